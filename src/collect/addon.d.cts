import type * as pprof from '@datadog/pprof';
import type * as acf from '@datadog/pprof/out/src/async-context-frame.js';
import type * as timeProfiler from '@datadog/pprof/out/src/time-profiler-bindings.js';
import type * as serializer from '@datadog/pprof/out/src/profile-serializer.js';
import type * as heapProfiler from '@datadog/pprof/out/src/heap-profiler-bindings.js';

export interface Addon {
  pprof: typeof pprof;
  acf: typeof acf;
  timeProfiler: typeof timeProfiler;
  serializer: typeof serializer;
  heapProfiler: typeof heapProfiler;
}

/** The addon's modules, or the error its load threw (kept: the next call gives the same). */
export function loadAddon(): Addon | { error: unknown };

/** `require.resolve(id)` from this package. */
export function resolvePackage(id: string): string;

/** The `--require` entry of worker threads (worker-entry.cjs, beside this file in every build). */
export function workerEntryPath(): string;
