import * as os from 'node:os';
import type { Attributes } from '@opentelemetry/api';
import { parseAgentAddress, defaultAgentSocket, type AgentAddress } from './export/agent-address.js';
import { configError } from './config-error.js';

/** Options of `new Profiler(options)`. Every option is optional. */
export interface ProfilerOptions {
  /**
   * Name the profiles are filed under in Blackfire.
   * Default: env `BLACKFIRE_CONPROF_APP_NAME`, then the OTel `service.name`, then env
   * `PLATFORM_APPLICATION_NAME`, then `my-node-app`.
   */
  applicationName?: string;
  /** Length of one profiling period, in milliseconds: one upload per period. Default: env `BLACKFIRE_CONPROF_PERIOD` (seconds), else 45000. */
  periodMillis?: number;
  /** Bound on one upload, retries included, in milliseconds. Default: env `BLACKFIRE_CONPROF_UPLOAD_TIMEOUT` (seconds), else 10000. */
  uploadTimeoutMillis?: number;
  /** Extra labels sent with every upload (`tags_profiler`); they win over the default labels. Values must be strings. */
  labels?: Record<string, string>;
  /**
   * Where the Blackfire Agent listens: `unix:///path`, `tcp://host:port`, `http://...` or `https://...`.
   * Default: env `BLACKFIRE_AGENT_SOCKET`, else the platform default (Linux: `unix:///var/run/blackfire/agent.sock`).
   */
  agentSocket?: string;
  /** Wall/CPU sampling frequency, in hertz. Default 100. */
  samplingFrequencyHz?: number;
  /** Mean number of allocated bytes between two heap samples. Default 524288 (512 KiB). */
  heapIntervalBytes?: number;
  /** Deepest stack recorded by the heap sampler, in frames. Default 64. */
  heapStackDepth?: number;
  /**
   * Record allocated memory and allocation counts (`alloc_space`, `alloc_objects`) besides the live heap.
   * Needs Node.js >= 26 (below, a diag line says it is unavailable); each period's heap profile then forces one
   * full GC. Default true.
   */
  allocationProfiling?: boolean;
  /** Most periods kept waiting for upload while the agent is down or slow; the oldest is dropped first. Default 4. */
  maxPendingUploads?: number;
  /** Host name label. Default: `os.hostname()`. */
  hostname?: string;
  /**
   * OpenTelemetry resource (a `Resource` or plain attributes) to label uploads with. It wins over the resource
   * the span processor sees on the SDK's spans, which wins over `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`.
   */
  resource?: { readonly attributes: Attributes } | Attributes;
  /**
   * Resource attributes sent as upload labels: names, or prefixes ending in `*`.
   * Default `DEFAULT_RESOURCE_LABELS`: service.*, deployment.*, host.name, k8s.*, cloud.*, container.*, faas.*.
   */
  resourceLabels?: readonly string[];
}

/** The validated configuration, every value resolved. */
export interface ProfilerConfig {
  applicationName: string;
  applicationNameSource: 'option' | 'env' | 'default';
  periodMillis: number;
  uploadTimeoutMillis: number;
  userLabels: Record<string, string>;
  agent: AgentAddress;
  samplingIntervalMicros: number;
  heapIntervalBytes: number;
  heapStackDepth: number;
  /** `unavailable`: wanted, but the runtime is older than Node.js 26. */
  allocationProfiling: 'on' | 'off' | 'unavailable';
  maxPendingUploads: number;
  hostname: string;
  projectId: string | undefined;
  basicAuth: string | undefined;
  nodeMajor: number;
}

export const DEFAULT_APPLICATION_NAME = 'my-node-app';

function positiveNumber(option: string, value: unknown, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value));
  if (!ok) throw configError(option, value, integer ? 'a positive integer' : 'a positive finite number');
  return value as number;
}

/** Reads a duration given in seconds by an environment variable, as milliseconds. */
function readSecondsFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw configError(`env ${name}`, raw, 'a positive number of seconds');
  }
  return Math.round(seconds * 1000);
}

function readLabels(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError('labels', value, 'an object of string values');
  }
  const labels: Record<string, string> = {};
  for (const [key, labelValue] of Object.entries(value)) {
    if (typeof labelValue !== 'string') {
      throw configError(`labels[${JSON.stringify(key)}]`, labelValue, 'a string');
    }
    if (key === '') throw configError('labels', value, 'an object without empty keys');
    labels[key] = labelValue;
  }
  return labels;
}

function readApplicationName(
  options: ProfilerOptions,
  env: NodeJS.ProcessEnv,
): Pick<ProfilerConfig, 'applicationName' | 'applicationNameSource'> {
  const name = options.applicationName;
  if (name !== undefined) {
    if (typeof name !== 'string' || name.trim() === '') {
      throw configError('applicationName', name, 'a non-empty string');
    }
    return { applicationName: name, applicationNameSource: 'option' };
  }
  const fromEnv = env.BLACKFIRE_CONPROF_APP_NAME?.trim();
  if (fromEnv) return { applicationName: fromEnv, applicationNameSource: 'env' };
  const platform = env.PLATFORM_APPLICATION_NAME?.trim();
  // PLATFORM_APPLICATION_NAME is a platform default: an OTel service.name may still win over it.
  if (platform) return { applicationName: platform, applicationNameSource: 'default' };
  return { applicationName: DEFAULT_APPLICATION_NAME, applicationNameSource: 'default' };
}

function readAgent(options: ProfilerOptions, env: NodeJS.ProcessEnv): AgentAddress {
  if (options.agentSocket !== undefined) return parseAgentAddress(options.agentSocket, 'agentSocket');
  const fromEnv = env.BLACKFIRE_AGENT_SOCKET;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return parseAgentAddress(fromEnv.trim(), 'env BLACKFIRE_AGENT_SOCKET');
  }
  return parseAgentAddress(defaultAgentSocket(process.platform, process.arch), 'default agent socket');
}

function readBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw configError(option, value, 'true or false');
  return value;
}

function readBasicAuth(env: NodeJS.ProcessEnv): string | undefined {
  const id = env.BLACKFIRE_SERVER_ID;
  const token = env.BLACKFIRE_SERVER_TOKEN;
  if (!id || !token) return undefined;
  return 'Basic ' + Buffer.from(`${id}:${token}`).toString('base64');
}

/**
 * Validates the options and resolves every default, reading the environment given (not at import time).
 * Throws ProfilerConfigError naming the option and the value on any bad input.
 */
export function resolveConfig(options: ProfilerOptions = {}, env: NodeJS.ProcessEnv = process.env): ProfilerConfig {
  if (typeof options !== 'object' || options === null) throw configError('options', options, 'an object');
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const samplingFrequencyHz = positiveNumber('samplingFrequencyHz', options.samplingFrequencyHz, 100);
  if (samplingFrequencyHz > 1000) throw configError('samplingFrequencyHz', samplingFrequencyHz, 'at most 1000');
  const allocationsWanted = readBoolean('allocationProfiling', options.allocationProfiling, true);
  const hostname = options.hostname ?? os.hostname();
  if (typeof hostname !== 'string' || hostname === '') throw configError('hostname', hostname, 'a non-empty string');
  return {
    ...readApplicationName(options, env),
    periodMillis: positiveNumber('periodMillis', options.periodMillis, readSecondsFromEnv(env, 'BLACKFIRE_CONPROF_PERIOD') ?? 45_000),
    uploadTimeoutMillis: positiveNumber(
      'uploadTimeoutMillis',
      options.uploadTimeoutMillis,
      readSecondsFromEnv(env, 'BLACKFIRE_CONPROF_UPLOAD_TIMEOUT') ?? 10_000,
    ),
    userLabels: readLabels(options.labels),
    agent: readAgent(options, env),
    samplingIntervalMicros: Math.round(1e6 / samplingFrequencyHz),
    heapIntervalBytes: positiveNumber('heapIntervalBytes', options.heapIntervalBytes, 512 * 1024, true),
    heapStackDepth: positiveNumber('heapStackDepth', options.heapStackDepth, 64, true),
    allocationProfiling: !allocationsWanted ? 'off' : nodeMajor >= 26 ? 'on' : 'unavailable',
    maxPendingUploads: positiveNumber('maxPendingUploads', options.maxPendingUploads, 4, true),
    hostname,
    projectId: env.PLATFORM_PROJECT?.trim() || undefined,
    basicAuth: readBasicAuth(env),
    nodeMajor,
  };
}
