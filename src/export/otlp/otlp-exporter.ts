import type { Environment } from '../../config.js';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { configError } from '../../config-error.js';
import { RateLimitedLog } from '../../diag.js';
import type { ProfilePeriod } from '../../profile/period.js';
import { PROBE_VERSION } from '../../version.js';
import type { ExportResult, ProfileExporter } from '../exporter.js';
import { postUntraced, type AgentResponse, type TransportError } from '../http-transport.js';
import { Retrying, type Attempt } from '../retry.js';
import { encodeProfilesRequest } from './profiles-request.js';
import { OTLP_PROFILES_VERSION } from './schema.js';

const gzip = promisify(zlib.gzip);

export const OTLP_PROFILES_PATH = `/${OTLP_PROFILES_VERSION}/profiles`;
const DEFAULT_ENDPOINT = 'http://localhost:4318';

export interface OtlpProfilesExporterOptions {
  /** The full URL to POST to. Default: `OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1development/profiles`, else localhost:4318. */
  url?: string;
  /** Extra HTTP headers. Default: `OTEL_EXPORTER_OTLP_PROFILES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`). */
  headers?: Record<string, string>;
  /** Bound on one export, retries included, in ms. Default: `OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`, else 10000. */
  timeoutMillis?: number;
  log?: RateLimitedLog;
  /** Read instead of `process.env` (tests). */
  env?: Environment;
}

/** `k=v,k2=v2`, values percent-decoded, as OTel's OTLP exporters read their `*_HEADERS` variables. */
export function parseOtlpHeaders(raw: string | undefined, name: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw === undefined || raw.trim() === '') return headers;
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at).trim();
    if (at <= 0 || key === '' || /[^!#$%&'*+.^_`|~0-9A-Za-z-]/.test(key)) throw configError(`env ${name}`, '(value not shown: it may hold credentials)', 'comma-separated key=value pairs');
    try {
      headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw configError(`env ${name}`, '(value not shown: it may hold credentials)', 'percent-encoded values');
    }
  }
  return headers;
}

function readUrl(options: OtlpProfilesExporterOptions, env: Environment): URL {
  const specific = env.OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT?.trim();
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const [option, text] =
    options.url !== undefined
      ? ['url', options.url]
      : specific
        ? ['env OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT', specific]
        : ['env OTEL_EXPORTER_OTLP_ENDPOINT', (general || DEFAULT_ENDPOINT).replace(/\/+$/, '') + OTLP_PROFILES_PATH];
  let url: URL;
  try {
    url = new URL(String(text));
  } catch {
    throw configError(option, text, 'an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configError(option, text, 'an http:// or https:// URL');
  if (url.port === '0') throw configError(option, text, 'a URL with a port one can connect to');
  return url;
}

function readTimeout(options: OtlpProfilesExporterOptions, env: Environment): number {
  if (options.timeoutMillis !== undefined) {
    const t = options.timeoutMillis;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 10 || t > 600_000) throw configError('timeoutMillis', t, 'an integer from 10 to 600000 ms');
    return t;
  }
  for (const name of ['OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT']) {
    const raw = env[name]?.trim();
    if (!raw) continue;
    if (!/^\d{1,7}$/.test(raw) || Number(raw) < 10 || Number(raw) > 600_000) throw configError(`env ${name}`, raw, 'a whole number of milliseconds from 10 to 600000');
    return Number(raw);
  }
  return 10_000;
}

/**
 * OTLP/HTTP protobuf to a Collector (or any OTLP profiles receiver): one `ExportProfilesServiceRequest` per
 * period, gzipped, `POST <endpoint>/v1development/profiles`. Never throws; each kind of failure gives one diag
 * line per minute. Retries network errors, timeouts, 5xx and 429 (honouring Retry-After) until the deadline.
 */
export class OtlpProfilesExporter implements ProfileExporter {
  readonly name = 'otlp';
  readonly url: URL;
  /** The last period's encoding: main-thread ms (mapping and protobuf) and bytes sent (gzipped). */
  lastEncode = { millis: 0, rawBytes: 0, gzipBytes: 0 };
  private readonly headers: Record<string, string>;
  private readonly timeoutMillis: number;
  private readonly log: RateLimitedLog;
  private readonly retrying = new Retrying({ peer: 'the collector', fail: (attempts, kind, message) => this.fail(attempts, kind, message) });

  constructor(options: OtlpProfilesExporterOptions = {}) {
    const env = options.env ?? process.env;
    this.url = readUrl(options, env);
    this.headers = options.headers ?? (env.OTEL_EXPORTER_OTLP_PROFILES_HEADERS !== undefined
      ? parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_PROFILES_HEADERS, 'OTEL_EXPORTER_OTLP_PROFILES_HEADERS')
      : parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS'));
    this.timeoutMillis = readTimeout(options, env);
    this.log = options.log ?? new RateLimitedLog();
  }

  async export(period: ProfilePeriod, deadlineMillis = Infinity): Promise<ExportResult> {
    const deadline = Math.min(Date.now() + this.timeoutMillis, deadlineMillis);
    let body: Buffer;
    try {
      const t0 = performance.now();
      const raw = encodeProfilesRequest(period, { name: 'blackfire-otel-profiler', version: PROBE_VERSION });
      const millis = performance.now() - t0;
      body = await gzip(raw);
      this.lastEncode = { millis, rawBytes: raw.length, gzipBytes: body.length };
    } catch (error) {
      return this.fail(0, 'encode', `could not encode the OTLP profiles request: ${(error as Error)?.message ?? String(error)}`);
    }
    const headers = { ...this.headers, 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' };
    return this.retrying.run(deadline, (remaining, attempt) => this.attempt(body, headers, remaining, attempt), `no export attempt fitted in ${this.timeoutMillis} ms`, period.stopping);
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}

  private async attempt(body: Buffer, headers: Record<string, string>, timeoutMillis: number, attempt: number): Promise<Attempt> {
    let response: AgentResponse;
    try {
      response = await postUntraced({ agent: { kind: 'http', url: new URL(this.url.origin), display: this.url.origin }, path: this.url.pathname + this.url.search, headers, body, timeoutMillis });
    } catch (error) {
      const e = error as TransportError;
      return { retry: { kind: e.kind === 'timeout' ? 'timeout' : `network-${e.code ?? e.kind}`, message: e.message } };
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      this.log.clearAll();
      return { done: { code: 'success', attempts: attempt } };
    }
    const detail = `HTTP ${status}${response.bodyStart ? ': ' + response.bodyStart.slice(0, 200).trim() : ''}`;
    // As OTLP/HTTP says: 429, 502, 503, 504 are retryable (with Retry-After on 429 and 503); others are final.
    if (status === 429 || status === 502 || status === 503 || status === 504) {
      return { retry: { kind: `http-${status}`, message: detail, retryAfterMillis: status === 429 || status === 503 ? response.retryAfterMillis : undefined } };
    }
    return { done: this.fail(attempt, `http-${status}`, `the collector refused the profiles: ${detail}`) };
  }

  private fail(attempts: number, kind: string, message: string): ExportResult {
    this.log.warn(`otlp-${kind}`, `OTLP profiles export to ${this.url.origin}${this.url.pathname} failed: ${message}`);
    return { code: 'failure', attempts, kind, message };
  }
}
