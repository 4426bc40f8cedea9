/**
 * The one door to the native addon: every call into `@datadog/pprof` goes through here, so tests can
 * see (and stub) exactly what the profiler asks of the sampler, and nothing else imports the addon.
 */
import * as pprof from '@datadog/pprof';
// A deep import: @datadog/pprof does not re-export its AsyncContextFrame detector from its index.
import * as acf from '@datadog/pprof/out/src/async-context-frame.js';
import type { Profile } from 'pprof-format';

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
    pprof.time.start({
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
    return pprof.time.stop(restart, generateLabels as never) as Profile;
  },
  isStarted(): boolean {
    return pprof.time.isStarted();
  },
  setContext(context: object | undefined): void {
    pprof.time.setContext(context);
  },
  getContext(): object | undefined {
    return pprof.time.getContext() as object | undefined;
  },
  runWithContext<R>(context: object, fn: () => R): R {
    return pprof.time.runWithContext(context, fn);
  },
};

export const heapBindings = {
  start(intervalBytes: number, stackDepth: number, allocations: boolean): void {
    pprof.heap.start(intervalBytes, stackDepth, allocations);
  },
  profile(): Profile {
    return pprof.heap.profile() as Profile;
  },
  stop(): void {
    pprof.heap.stop();
  },
};

let asyncContextFrameActive: boolean | undefined;

/** Whether AsyncLocalStorage runs on AsyncContextFrame here (Node >= 24 by default), which `useCPED` needs. */
export function isAsyncContextFrameActive(): boolean {
  asyncContextFrameActive ??= acf.isAsyncContextFrameActive();
  return asyncContextFrameActive;
}
