import * as http from 'node:http';
import * as https from 'node:https';
import type { AgentAddress } from './agent-address.js';

export interface AgentRequest {
  agent: AgentAddress;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMillis: number;
}

export interface AgentResponse {
  statusCode: number;
  /** The first bytes of the response body, for error messages. */
  bodyStart: string;
}

/** A request that ended before an HTTP response: `timeout`, `not-http` (the peer does not speak HTTP) or `network`. */
export class TransportError extends Error {
  constructor(
    readonly kind: 'timeout' | 'not-http' | 'network',
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const MAX_BODY_START_BYTES = 1024;

function requestOptions(req: AgentRequest): http.RequestOptions {
  const headers = { ...req.headers, 'Content-Length': String(req.body.length) };
  if (req.agent.kind === 'unix') {
    return { socketPath: req.agent.socketPath, path: req.path, method: 'POST', headers, agent: false };
  }
  const base = req.agent.url;
  const basePath = base.pathname.replace(/\/$/, '');
  return {
    protocol: base.protocol,
    hostname: base.hostname.replace(/^\[|\]$/g, ''),
    port: base.port || undefined,
    path: basePath + req.path,
    method: 'POST',
    headers,
    agent: false,
  };
}

function classify(error: NodeJS.ErrnoException): TransportError {
  const code = error.code ?? '';
  if (code.startsWith('HPE_')) return new TransportError('not-http', `the agent's answer is not HTTP (${code})`, code);
  return new TransportError('network', error.message, code);
}

/** One POST to the agent, bounded by `timeoutMillis` from start to the end of the response. */
export function postToAgent(req: AgentRequest): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const options = requestOptions(req);
    const transport = options.protocol === 'https:' ? https : http;
    const request = transport.request(options, (response) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      response.on('data', (chunk: Buffer) => {
        if (kept < MAX_BODY_START_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      response.on('end', () => {
        clearTimeout(timer);
        const bodyStart = Buffer.concat(chunks).subarray(0, MAX_BODY_START_BYTES).toString('utf8');
        resolve({ statusCode: response.statusCode ?? 0, bodyStart });
      });
      response.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(classify(error));
      });
    });
    const timer = setTimeout(() => {
      request.destroy(new TransportError('timeout', `no answer from the agent within ${req.timeoutMillis} ms`));
    }, req.timeoutMillis);
    timer.unref();
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error instanceof TransportError ? error : classify(error));
    });
    request.end(req.body);
  });
}
