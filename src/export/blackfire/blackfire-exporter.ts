import type { UploadEvent } from './event.js';
import type { ExportResult, ProfileExporter } from '../exporter.js';
import type { ProfilePeriod } from '../../profile/period.js';
import { buildUpload } from './upload-builder.js';
import { Retrying, type Attempt } from '../retry.js';
import { RateLimitedLog } from '../../diag.js';
import { parseAgentAddress, type AgentAddress } from '../agent-address.js';
import { encodeMultipart, newBoundary } from './multipart.js';
import { postUntraced, type AgentResponse, type TransportError } from '../http-transport.js';

export const INTAKE_PATH = '/profiling/v1/input';
export const AGENT_TOO_OLD = 'Blackfire Agent >= 2.13.0 is required';

/** One period, ready to send: event.json and the compressed pprof files it lists. */
export interface EncodedUpload {
  event: UploadEvent;
  files: Array<{ name: string; data: Uint8Array }>;
}

export type { ExportResult };

export interface BlackfireExporterOptions {
  /** The agent's address (`unix:///path`, `tcp://host:port`, `http(s)://...`), parsed or not. */
  agent: AgentAddress | string;
  uploadTimeoutMillis: number;
  basicAuth?: string | undefined;
  log?: RateLimitedLog;
}




/**
 * Sends one period to the Blackfire Agent's intake. Never throws: it returns a result, and reports each
 * kind of failure once per minute through diag. Retries network errors, timeouts, 5xx and 429 until the
 * upload's deadline; any other answer is final.
 */
export class BlackfireExporter implements ProfileExporter {
  readonly name = 'blackfire';
  /** How long the last period took to encode (pprof protobuf in slices, gzip on the thread pool), in ms. */
  lastEncodeMillis = 0;
  private readonly log: RateLimitedLog;
  private readonly retrying = new Retrying({ peer: 'the agent', fail: (attempts, kind, message) => this.fail(attempts, kind, message) });

  private readonly options: BlackfireExporterOptions & { agent: AgentAddress };

  constructor(options: BlackfireExporterOptions) {
    const agent = typeof options.agent === 'string' ? parseAgentAddress(options.agent, 'agent') : options.agent;
    this.options = { ...options, agent };
    this.log = options.log ?? new RateLimitedLog();
  }

  /** Encodes the period for the agent's intake (event.json, gzipped pprofs) and sends it; never throws. */
  async export(period: ProfilePeriod, deadlineMillis = Infinity): Promise<ExportResult> {
    let upload: EncodedUpload;
    const t0 = performance.now();
    try {
      upload = await buildUpload(period);
    } catch (error) {
      return this.fail(0, 'encode', `could not encode the period's profiles: ${(error as Error)?.message ?? String(error)}`);
    }
    this.lastEncodeMillis = performance.now() - t0;
    return this.send(upload, deadlineMillis, period.stopping);
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}

  /** One upload, already encoded. `deadlineMillis` (epoch ms) can only shorten its own bound of `uploadTimeoutMillis`. */
  async send(upload: EncodedUpload, deadlineMillis = Infinity, stopping?: AbortSignal): Promise<ExportResult> {
    const deadline = Math.min(Date.now() + this.options.uploadTimeoutMillis, deadlineMillis);
    const boundary = newBoundary();
    const body = encodeMultipart(
      [
        { name: 'event', filename: 'event.json', contentType: 'application/json', data: Buffer.from(JSON.stringify(upload.event)) },
        ...upload.files.map((f) => ({ name: f.name, filename: f.name, contentType: 'application/octet-stream', data: f.data })),
      ],
      boundary,
    );
    const headers: Record<string, string> = { 'Content-Type': `multipart/form-data; boundary=${boundary}` };
    if (this.options.basicAuth) headers.Authorization = this.options.basicAuth;
    return this.retrying.run(deadline, (remaining, attempt) => this.attempt(body, headers, remaining, attempt), `no upload attempt fitted in ${this.options.uploadTimeoutMillis} ms`, stopping);
  }

  private async attempt(body: Buffer, headers: Record<string, string>, timeoutMillis: number, attempt: number): Promise<Attempt> {
    let response: AgentResponse;
    try {
      response = await postUntraced({ agent: this.options.agent, path: INTAKE_PATH, headers, body, timeoutMillis });
    } catch (error) {
      const e = error as TransportError;
      if (e.kind === 'not-http') return { done: this.fail(attempt, 'agent-too-old', `${AGENT_TOO_OLD}: ${e.message}`) };
      return { retry: { kind: e.kind === 'timeout' ? 'timeout' : `network-${e.code ?? 'error'}`, message: e.message } };
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      // The agent is back: its next failure, of any kind, is worth a line at once.
      this.log.clearAll();
      return { done: { code: 'success', attempts: attempt } };
    }
    const detail = `HTTP ${status}${response.bodyStart ? ': ' + response.bodyStart.slice(0, 200).trim() : ''}`;
    if (status === 404) return { done: this.fail(attempt, 'agent-too-old', `${AGENT_TOO_OLD} (the agent answered ${detail})`) };
    if (status >= 500 || status === 429) {
      const retryAfterMillis = status === 429 || status === 503 ? response.retryAfterMillis : undefined;
      return { retry: { kind: `http-${status}`, message: detail, retryAfterMillis } };
    }
    return { done: this.fail(attempt, `http-${status}`, `the agent refused the upload: ${detail}`) };
  }

  private fail(attempts: number, kind: string, message: string): ExportResult {
    const where = this.options.agent.display;
    if (kind === 'agent-too-old') this.log.error(kind, `${message} at ${where}`);
    else this.log.warn(kind, `profile upload to ${where} failed: ${message}`);
    return { code: 'failure', attempts, kind, message };
  }
}
