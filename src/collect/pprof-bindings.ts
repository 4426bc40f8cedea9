/**
 * The one door to the native addon: every call into `@datadog/pprof` goes through here, so tests can
 * see (and stub) exactly what the profiler asks of the sampler, and nothing else imports the addon.
 */
// Loaded on first use (addon.cjs): the public API, and deep imports below it of the exact @datadog/pprof version
// package.json pins: its AsyncContextFrame detector, the native TimeProfiler with its serializer (checked by
// `nativeTimeBindings.missing()`), the heap profiler's bindings (`nativeHeapBindings.missing()`).
import { loadAddon, type Addon } from './addon.cjs';
import type { Profile } from 'pprof-format';

/** Why the native addon cannot be used here (its load failed), else undefined. */
export function addonUnavailable(): string | undefined {
  const loaded = loadAddon();
  if (!('error' in loaded)) return undefined;
  const error = loaded.error as Error | undefined;
  return `@datadog/pprof could not be loaded: ${error?.message?.split('\n')[0] ?? String(error)}`;
}

function addon(): Addon {
  const loaded = loadAddon();
  if ('error' in loaded) throw new Error(addonUnavailable());
  return loaded;
}

export type { Profile };

/** A sample's context, as the time sampler hands it back at serialisation time. */
export interface SampleContext {
  context?: object;
  cpuTime?: number;
}
export type SampleLabels = Record<string, string | number>;
export type GenerateLabels = (args: { context?: SampleContext }) => SampleLabels;

export interface TimeSamplerStartOptions {
  samplingIntervalMicros: number;
  /** How long the sampler keeps contexts for; the rotation must come before it runs out. */
  durationMillis: number;
  useAsyncContextFrame: boolean;
}

export const timeBindings = {
  start(options: TimeSamplerStartOptions): void {
    addon().pprof.time.start({
      intervalMicros: options.samplingIntervalMicros,
      durationMillis: options.durationMillis,
      withContexts: true,
      collectCpuTime: true,
      useCPED: options.useAsyncContextFrame,
      workaroundV8Bug: true,
    });
  },
  /** Stops (and with `restart`, restarts at once: no gap) and returns the period's profile. */
  stop(restart: boolean, generateLabels?: GenerateLabels): Profile {
    return addon().pprof.time.stop(restart, generateLabels as never) as Profile;
  },
  isStarted(): boolean {
    return addon().pprof.time.isStarted();
  },
  setContext(context: object | undefined): void {
    addon().pprof.time.setContext(context);
  },
  getContext(): object | undefined {
    return addon().pprof.time.getContext() as object | undefined;
  },
  runWithContext<R>(context: object, fn: () => R): R {
    return addon().pprof.time.runWithContext(context, fn);
  },
};

export const heapBindings = {
  /** Through the public API; with `allocations`, V8's sampler restarts at each profile (see nativeHeapBindings). */
  start(intervalBytes: number, stackDepth: number, allocations = false): void {
    addon().pprof.heap.start(intervalBytes, stackDepth, allocations);
  },
  profile(): Profile {
    return addon().pprof.heap.profile() as Profile;
  },
  stop(): void {
    addon().pprof.heap.stop();
  },
};

/** One node of V8's allocation profile tree, in allocation mode (Node.js >= 26). */
export interface AllocationNode {
  name: string;
  scriptName: string;
  scriptId?: number;
  lineNumber?: number;
  columnNumber?: number;
  children: AllocationNode[];
  allocations: AllocationStats[];
}
/** Per allocation size at a node: live now, and allocated since V8's sampler started (cumulative). */
export interface AllocationStats {
  inuseObjects: number;
  inuseSpaceBytes: number;
  allocObjects: number;
  allocSpaceBytes: number;
}

type SerializeHeapProfile = (root: AllocationNode, startTimeNanos: number, intervalBytes: number, ignore: undefined, sourceMapper: undefined, generateLabels: undefined, allocations: boolean) => Profile;

/**
 * V8's sampling heap profiler in allocation mode, below the public API: `pprof.heap.profile()` restarts V8's
 * sampler at every profile in that mode (its buffer of collected samples only grows), and a restarted sampler
 * no longer knows the objects sampled before, so every period's `inuse_*` would cover that period's allocations
 * only. The heap sampler drives V8 directly instead and restarts it seldom (heap-sampler.ts).
 */
export const nativeHeapBindings = {
  missing(): string | undefined {
    const unavailable = addonUnavailable();
    if (unavailable !== undefined) return unavailable;
    const m = addon().heapProfiler as Record<string, unknown>;
    const absent = ['startSamplingHeapProfiler', 'stopSamplingHeapProfiler', 'getAllocationProfile'].filter((name) => typeof m[name] !== 'function');
    if (absent.length > 0) return `heap-profiler-bindings.js lacks ${absent.join(', ')}`;
    if (typeof (addon().serializer as { serializeHeapProfile?: unknown }).serializeHeapProfile !== 'function') return 'profile-serializer.js exports no serializeHeapProfile';
    return undefined;
  },
  start(intervalBytes: number, stackDepth: number): void {
    addon().heapProfiler.startSamplingHeapProfiler(intervalBytes, stackDepth, true);
  },
  stop(): void {
    addon().heapProfiler.stopSamplingHeapProfiler();
  },
  /** The tree with live and cumulative figures (V8 forces a full GC first in this mode, to tell live from dead). */
  tree(): AllocationNode {
    return addon().heapProfiler.getAllocationProfile() as unknown as AllocationNode;
  },
  serialize(root: AllocationNode, startTimeNanos: number, intervalBytes: number): Profile {
    const serialize = addon().serializer.serializeHeapProfile as unknown as SerializeHeapProfile;
    return serialize(root, startTimeNanos, intervalBytes, undefined, undefined, undefined, true);
  },
};

let asyncContextFrameActive: boolean | undefined;

/** Whether AsyncLocalStorage runs on AsyncContextFrame here (Node >= 24 by default), which `useCPED` needs. */
export function isAsyncContextFrameActive(): boolean {
  asyncContextFrameActive ??= addonUnavailable() === undefined && addon().acf.isAsyncContextFrameActive();
  return asyncContextFrameActive;
}

/** The native TimeProfiler of @datadog/pprof, driven directly by the context store (see context-store.ts). */
export interface NativeTimeProfiler {
  start(): void;
  /** The raw V8 profile of the period; with `restart`, sampling goes on with no gap. */
  stop(restart: boolean): unknown;
  /** The same, handed to `collect` while V8's profile is still alive (no intermediate JS tree); returns its result. */
  stopAndCollect<T>(restart: boolean, collect: (raw: unknown) => T): T;
  /** A holder the signal handler reads when it is the store of the profiler's CPED key. `holder[0]` is `value`. */
  createContextHolder(value: object | undefined): object;
  v8ProfilerStuckEventLoopDetected(): number;
  readonly metrics: { usedAsyncContextCount: number; totalAsyncContextCount: number };
}

export interface NativeTimeProfilerOptions {
  samplingIntervalMicros: number;
  durationMillis: number;
  /** The AsyncLocalStorage whose stores the sampler reads (holders only; anything else is ignored). */
  cpedKey: object;
  isMainThread: boolean;
}

type TimeProfilerConstructor = new (options: Record<string, unknown>) => NativeTimeProfiler;
type SerializeTimeProfile = (
  raw: unknown,
  intervalMicros: number,
  sourceMapper: undefined,
  recomputeSamplingInterval: boolean,
  generateLabels: GenerateLabels | undefined,
) => Profile;

const PROFILER_METHODS = ['start', 'stop', 'stopAndCollect', 'createContextHolder', 'v8ProfilerStuckEventLoopDetected'] as const;

export const nativeTimeBindings = {
  /**
   * What is missing of the internals the context store relies on (TimeProfiler with createContextHolder, the
   * time profile serializer), or undefined when they are all there. Anything missing: the public API path runs.
   */
  missing(): string | undefined {
    const unavailable = addonUnavailable();
    if (unavailable !== undefined) return unavailable;
    const TimeProfiler = (addon().timeProfiler as { TimeProfiler?: unknown }).TimeProfiler;
    if (typeof TimeProfiler !== 'function') return 'time-profiler-bindings.js exports no TimeProfiler constructor';
    const prototype = (TimeProfiler as { prototype?: Record<string, unknown> }).prototype ?? {};
    const absent = PROFILER_METHODS.filter((name) => typeof prototype[name] !== 'function');
    if (absent.length > 0) return `TimeProfiler lacks ${absent.join(', ')}`;
    const serialize = (addon().serializer as { serializeTimeProfile?: unknown }).serializeTimeProfile;
    if (typeof serialize !== 'function') return 'profile-serializer.js exports no serializeTimeProfile';
    // (prof, intervalMicros, sourceMapper, recomputeSamplingInterval = false, generateLabels, ...): 3 before the defaults.
    if (serialize.length !== 3) return `serializeTimeProfile takes ${serialize.length} leading parameters, not 3 (its signature changed)`;
    return undefined;
  },
  create(options: NativeTimeProfilerOptions): NativeTimeProfiler {
    const TimeProfiler = addon().timeProfiler.TimeProfiler as TimeProfilerConstructor;
    // The native constructor checks every option's type strictly.
    return new TimeProfiler({
      intervalMicros: options.samplingIntervalMicros,
      durationMillis: options.durationMillis,
      withContexts: true,
      collectCpuTime: true,
      collectAsyncId: false,
      useCPED: true,
      CPEDKey: options.cpedKey,
      isMainThread: options.isMainThread,
      // The workaround for V8's stuck sampler sleeps up to two sampling intervals, twice, in every restart (10 to
      // 15 ms of main-thread block per rotation at 100 Hz, measured). Without it the addon still detects a stuck
      // sampler at each stop, and the rotation then restarts V8's profiler (context-store.ts).
      workaroundV8Bug: false,
      lineNumbers: false,
    });
  },
  /** The period's pprof Profile from the raw V8 profile, with `generateLabels` run once per sample context. */
  serialize(raw: unknown, samplingIntervalMicros: number, generateLabels?: GenerateLabels): Profile {
    const serialize = addon().serializer.serializeTimeProfile as SerializeTimeProfile;
    return serialize(raw, samplingIntervalMicros, undefined, true, generateLabels);
  },
};
