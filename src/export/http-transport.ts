import * as http from 'node:http';
import * as https from 'node:https';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
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
  /** `Retry-After` (delay-seconds or an HTTP date) as milliseconds from now, if the answer had a valid one. */
  retryAfterMillis?: number;
}

/** `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`, as ms from `nowMillis`; else undefined. */
export function parseRetryAfter(value: string | undefined, nowMillis = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMillis);
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
        const retryAfter = response.headers['retry-after'];
        resolve({ statusCode: response.statusCode ?? 0, bodyStart, retryAfterMillis: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) });
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
    // An upload never keeps a finished application alive: at `beforeExit` the profiler's stop() bounds the last one.
    request.on('socket', (socket) => socket.unref());
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error instanceof TransportError ? error : classify(error));
    });
    request.end(req.body);
  });
}

/**
 * `postToAgent` as every exporter sends: outside the application's traces (the profiler's own HTTP calls must not
 * show up as spans), and failing only with a TransportError.
 */
export async function postUntraced(req: AgentRequest): Promise<AgentResponse> {
  try {
    return await context.with(suppressTracing(context.active()), () => postToAgent(req));
  } catch (error) {
    throw error instanceof TransportError ? error : new TransportError('network', String(error));
  }
}
