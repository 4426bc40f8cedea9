import * as os from 'node:os';
import type { Attributes } from '@opentelemetry/api';
import { parseAgentAddress, defaultAgentSocket, type AgentAddress } from './export/agent-address.js';
import { configError } from './config-error.js';
import type { ProfileExporter } from './export/exporter.js';
import { sanitizeTagPart } from './export/blackfire/tags.js';

/** The environment variables read (`process.env`, or any such record): no dependency on Node's own types. */
export type Environment = Readonly<Record<string, string | undefined>>;

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
  /**
   * Where periods go: ProfileExporters (or their names: `blackfire`, `otlp`, `file`), each with its own bounded
   * queue. Default: env `OTEL_PROFILES_EXPORTER`
   * (`blackfire`, `otlp`, `file`, comma-separated), else the Blackfire Agent.
   */
  exporters?: ReadonlyArray<ProfileExporter | 'blackfire' | 'otlp' | 'file'>;
  /**
   * Name functions by their original source (TypeScript, a bundle's inputs) where the JavaScript that ran has a
   * source map (inline, a `.map` file, or what `--enable-source-maps` loaded). Maps are read lazily, for the
   * files that show up in samples, outside the rotation. Default true.
   */
  sourceMaps?: boolean;
  /**
   * Profile the worker threads too (from the main thread's Profiler): each new Worker samples itself and sends
   * its profile to this one, and every upload covers the whole process, each sample labelled `thread id` and
   * `thread name`. Default true.
   */
  workerThreads?: boolean;
}

/** The validated configuration, every value resolved. */
export interface ProfilerConfig {
  /** `BLACKFIRE_CONPROF_ENABLED` is not false. */
  enabled: boolean;
  /** Options that were ignored or look like mistakes: logged once, when the Profiler is built. */
  warnings: string[];
  applicationName: string;
  applicationNameSource: 'option' | 'env' | 'default';
  periodMillis: number;
  uploadTimeoutMillis: number;
  userLabels: Record<string, string>;
  agent: AgentAddress;
  samplingIntervalMicros: number;
  heapIntervalBytes: number;
  heapStackDepth: number;
  sourceMaps: boolean;
  workerThreads: boolean;
  /** `unavailable`: wanted, but the runtime is older than Node.js 26. */
  allocationProfiling: 'on' | 'off' | 'unavailable';
  maxPendingUploads: number;
  hostname: string;
  projectId: string | undefined;
  basicAuth: string | undefined;
  nodeMajor: number;
}

export const DEFAULT_APPLICATION_NAME = 'my-node-app';

/** Every numeric option's range: what the sampler and Node's timers accept, and what stays sane in production. */
export const LIMITS = {
  /** Below 1 s a period is a mistake (`periodMillis: 45` meant as seconds); below 10 s it gets a warning. */
  periodMillis: { min: 1000, max: 3_600_000 },
  uploadTimeoutMillis: { min: 10, max: 600_000 },
  samplingFrequencyHz: { min: 1, max: 1000 },
  heapIntervalBytes: { min: 1024, max: 2 ** 32 - 1 },
  heapStackDepth: { min: 1, max: 1024 },
  maxPendingUploads: { min: 1, max: 100 },
  labels: { maxCount: 100, maxKeyLength: 100, maxValueLength: 1000 },
  nameLength: 255,
} as const;

/** Periods shorter than this are allowed but warned about: each one is an upload, and a heap profile. */
export const SHORT_PERIOD_MILLIS = 10_000;

/**
 * Not part of the API: the test suite lowers the period floor to run many periods in a second. Production code
 * never writes it.
 */
export const testHooks: { minPeriodMillis: number } = { minPeriodMillis: LIMITS.periodMillis.min };

function periodRange(): { min: number; max: number } {
  return { min: testHooks.minPeriodMillis, max: LIMITS.periodMillis.max };
}

/** Every key ProfilerOptions knows; anything else gets a warning naming the nearest. */
export const OPTION_NAMES = [
  'applicationName', 'periodMillis', 'uploadTimeoutMillis', 'labels', 'agentSocket', 'samplingFrequencyHz', 'heapIntervalBytes',
  'heapStackDepth', 'allocationProfiling', 'maxPendingUploads', 'hostname', 'resource', 'resourceLabels', 'exporters',
  'sourceMaps', 'workerThreads',
] as const satisfies ReadonlyArray<keyof ProfilerOptions>;

/** Edit distance over lower-case letters and digits only (`application_name` is `applicationName`). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase().replace(/[^a-z0-9]/g, '');
  const y = b.toLowerCase().replace(/[^a-z0-9]/g, '');
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

/** The known option nearest to an unknown key: by edit distance, or the one that starts with it (`period`). */
export function nearestOption(key: string, names: readonly string[] = OPTION_NAMES): string {
  const prefix = names.find((name) => name.toLowerCase().startsWith(key.toLowerCase().replace(/[^a-z0-9]/gi, '')) && key.length >= 3);
  return prefix ?? [...names].sort((a, b) => distance(key, a) - distance(key, b))[0]!;
}

function optionWarnings(options: ProfilerOptions, periodMillis: number): string[] {
  const warnings: string[] = [];
  for (const key of Object.keys(options)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) warnings.push(`unknown option ${JSON.stringify(key)} is ignored; did you mean ${JSON.stringify(nearestOption(key))}?`);
  }
  if (periodMillis < SHORT_PERIOD_MILLIS) {
    warnings.push(`periodMillis is ${periodMillis} ms: one upload and one heap profile every ${periodMillis / 1000} s; periods under ${SHORT_PERIOD_MILLIS / 1000} s are meant for tests (the default is 45 s)`);
  }
  return warnings;
}

/**
 * `BLACKFIRE_CONPROF_ENABLED`: `false` (or `0`, `no`, `off`) turns the profiler off, in code and under
 * `register`; unset or `true` (`1`, `yes`, `on`) leaves it on.
 */
export function readEnabled(value: string | undefined, option = 'env BLACKFIRE_CONPROF_ENABLED'): boolean {
  if (value === undefined || value.trim() === '') return true;
  const text = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  throw configError(option, value, 'true or false');
}

function numberInRange(option: string, value: unknown, fallback: number, range: { min: number; max: number }, integer = false): number {
  if (value === undefined) return fallback;
  const expected = `${integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}`;
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) throw configError(option, value, expected);
  if (value < range.min || value > range.max) throw configError(option, value, expected);
  return value;
}

/** Milliseconds, whole: checked after the conversion, so nothing rounds to 0 or overflows Node's timers. */
function millisInRange(option: string, value: number | undefined, fallback: number, range: { min: number; max: number }, shown: unknown = value): number {
  if (value === undefined) return fallback;
  const millis = Math.round(value);
  if (!Number.isFinite(value) || millis < range.min || millis > range.max) {
    throw configError(option, shown, `a duration from ${range.min} to ${range.max} ms`);
  }
  return millis;
}

/** A duration in seconds from the environment: plain decimal digits only (no sign, exponent or hex), as ms. */
function readSecondsFromEnv(env: Environment, name: string, range: { min: number; max: number }): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  const expected = `a decimal number of seconds from ${range.min / 1000} to ${range.max / 1000}`;
  if (!/^\d{1,12}(\.\d{1,9})?$/.test(text)) throw configError(`env ${name}`, raw, expected);
  const millis = Math.round(Number(text) * 1000);
  if (millis < range.min || millis > range.max) throw configError(`env ${name}`, raw, expected);
  return millis;
}

// Control characters (C0, DEL, C1) and the tag format's separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function readName(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > LIMITS.nameLength || CONTROL.test(value)) {
    throw configError(option, value, `a non-empty string of at most ${LIMITS.nameLength} characters, without control characters`);
  }
  return value;
}

function readLabels(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError('labels', value, 'an object of string values');
  }
  const entries = Object.entries(value);
  if (entries.length > LIMITS.labels.maxCount) throw configError('labels', `${entries.length} labels`, `at most ${LIMITS.labels.maxCount} labels`);
  const labels: Record<string, string> = {};
  const sentAs = new Map<string, string>();
  for (const [key, labelValue] of entries) {
    if (key === '' || key.length > LIMITS.labels.maxKeyLength) {
      throw configError('labels', key === '' ? 'an empty key' : `a key of ${key.length} characters`, `keys of 1 to ${LIMITS.labels.maxKeyLength} characters`);
    }
    if (typeof labelValue !== 'string' || labelValue.length > LIMITS.labels.maxValueLength) {
      throw configError(`labels[${JSON.stringify(key)}]`, labelValue, `a string of at most ${LIMITS.labels.maxValueLength} characters`);
    }
    // `,` `:` and control characters are sent as `_`: two keys that would be sent alike are refused.
    const sent = sanitizeTagPart(key);
    const other = sentAs.get(sent);
    if (other !== undefined) throw configError('labels', `${JSON.stringify(other)} and ${JSON.stringify(key)}`, `keys that stay distinct once "," ":" and control characters are sent as "_" (both would be ${JSON.stringify(sent)})`);
    sentAs.set(sent, key);
    // defineProperty: a key such as `__proto__` is an ordinary label, not a prototype change.
    Object.defineProperty(labels, key, { value: labelValue, enumerable: true, writable: true, configurable: true });
  }
  return labels;
}

function readApplicationName(
  options: ProfilerOptions,
  env: Environment,
): Pick<ProfilerConfig, 'applicationName' | 'applicationNameSource'> {
  const name = options.applicationName;
  if (name !== undefined) return { applicationName: readName('applicationName', name), applicationNameSource: 'option' };
  const fromEnv = env.BLACKFIRE_CONPROF_APP_NAME?.trim();
  if (fromEnv) return { applicationName: readName('env BLACKFIRE_CONPROF_APP_NAME', fromEnv), applicationNameSource: 'env' };
  const platform = env.PLATFORM_APPLICATION_NAME?.trim();
  // PLATFORM_APPLICATION_NAME is a platform default: an OTel service.name may still win over it.
  if (platform) return { applicationName: readName('env PLATFORM_APPLICATION_NAME', platform), applicationNameSource: 'default' };
  return { applicationName: DEFAULT_APPLICATION_NAME, applicationNameSource: 'default' };
}

function readAgent(options: ProfilerOptions, env: Environment): AgentAddress {
  if (options.agentSocket !== undefined) return parseAgentAddress(options.agentSocket, 'agentSocket');
  const fromEnv = env.BLACKFIRE_AGENT_SOCKET;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return parseAgentAddress(fromEnv.trim(), 'env BLACKFIRE_AGENT_SOCKET');
  }
  return parseAgentAddress(defaultAgentSocket(process.platform, process.arch), 'default agent socket');
}

/** A number option before its range check: anything else (a string, NaN) is refused here, naming it. */
function numberOption(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw configError(option, value, 'a finite number of milliseconds');
  return value;
}

function readBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw configError(option, value, 'true or false');
  return value;
}

function readBasicAuth(env: Environment): string | undefined {
  const id = env.BLACKFIRE_SERVER_ID;
  const token = env.BLACKFIRE_SERVER_TOKEN;
  if (!id || !token) return undefined;
  return 'Basic ' + Buffer.from(`${id}:${token}`).toString('base64');
}

/**
 * Validates the options and resolves every default, reading the environment given (not at import time).
 * Throws ProfilerConfigError naming the option and the value on any bad input.
 */
export function resolveConfig(options: ProfilerOptions = {}, env: Environment = process.env): ProfilerConfig {
  if (typeof options !== 'object' || options === null) throw configError('options', options, 'an object');
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const samplingFrequencyHz = numberInRange('samplingFrequencyHz', options.samplingFrequencyHz, 100, LIMITS.samplingFrequencyHz);
  const allocationsWanted = readBoolean('allocationProfiling', options.allocationProfiling, true);
  const hostname = options.hostname === undefined ? os.hostname() : readName('hostname', options.hostname);
  const periodFromEnv = readSecondsFromEnv(env, 'BLACKFIRE_CONPROF_PERIOD', periodRange());
  const timeoutFromEnv = readSecondsFromEnv(env, 'BLACKFIRE_CONPROF_UPLOAD_TIMEOUT', LIMITS.uploadTimeoutMillis);
  const periodMillis = millisInRange('periodMillis', numberOption('periodMillis', options.periodMillis), periodFromEnv ?? 45_000, periodRange());
  return {
    ...readApplicationName(options, env),
    enabled: readEnabled(env.BLACKFIRE_CONPROF_ENABLED),
    warnings: optionWarnings(options, periodMillis),
    periodMillis,
    uploadTimeoutMillis: millisInRange('uploadTimeoutMillis', numberOption('uploadTimeoutMillis', options.uploadTimeoutMillis), timeoutFromEnv ?? 10_000, LIMITS.uploadTimeoutMillis),
    userLabels: readLabels(options.labels),
    agent: readAgent(options, env),
    samplingIntervalMicros: Math.round(1e6 / samplingFrequencyHz),
    heapIntervalBytes: numberInRange('heapIntervalBytes', options.heapIntervalBytes, 512 * 1024, LIMITS.heapIntervalBytes, true),
    heapStackDepth: numberInRange('heapStackDepth', options.heapStackDepth, 64, LIMITS.heapStackDepth, true),
    allocationProfiling: !allocationsWanted ? 'off' : nodeMajor >= 26 ? 'on' : 'unavailable',
    sourceMaps: readBoolean('sourceMaps', options.sourceMaps, true),
    workerThreads: readBoolean('workerThreads', options.workerThreads, true),
    maxPendingUploads: numberInRange('maxPendingUploads', options.maxPendingUploads, 4, LIMITS.maxPendingUploads, true),
    hostname,
    projectId: env.PLATFORM_PROJECT?.trim() || undefined,
    basicAuth: readBasicAuth(env),
    nodeMajor,
  };
}
