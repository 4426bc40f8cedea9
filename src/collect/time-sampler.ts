import { performance } from 'node:perf_hooks';
import { nativeTimeBindings, timeBindings, type GenerateLabels, type Profile } from './pprof-bindings.js';
import { contextStorage, contextStoreUnavailable, rotateStoreProfiler, startStoreProfiler, storeProfilerRunning, type ContextHolders, type StoreProfiler } from './context-store.js';
import type { HandOffMode } from './hand-off.js';
export type { HandOffMode };

export interface TimeSamplerOptions {
  samplingIntervalMicros: number;
  periodMillis: number;
  handOff: HandOffMode;
}

/** Wall time and CPU time per stack (`wall.pprof`), sampled by V8's CPU profiler through @datadog/pprof. */
/** Main-thread time of the last rotation's steps, in ms. */
export interface RotationTimings {
  /** Stopping and restarting V8's CPU profiler (and, on the public API path, building the pprof Profile). */
  sampleStopMillis: number;
  /** Building the pprof Profile from V8's, sample labels included (context store: inside the addon's callback). */
  serializeMillis: number;
}

export class TimeSampler {
  private storeProfiler: StoreProfiler | undefined;
  readonly lastRotation: RotationTimings = { sampleStopMillis: 0, serializeMillis: 0 };

  constructor(private readonly options: TimeSamplerOptions) {}

  /** The sampler keeps per-sample contexts for about 2 x durationMillis: give a late rotation a period of headroom. */
  private get durationMillis(): number {
    return Math.max(2 * this.options.periodMillis, 10_000);
  }

  start(): void {
    if (this.options.handOff === 'context-store') {
      this.storeProfiler = startStoreProfiler(this.options.samplingIntervalMicros, this.durationMillis);
      return;
    }
    timeBindings.start({
      samplingIntervalMicros: this.options.samplingIntervalMicros,
      durationMillis: this.durationMillis,
      useAsyncContextFrame: this.options.handOff === 'run-with-context',
    });
  }

  /** The holders of the running sampler (context-store hand-off only). */
  get holders(): ContextHolders | undefined {
    return this.storeProfiler;
  }

  /** Live context holders (context-store hand-off), for stats and the bench; undefined otherwise. */
  liveHolders(): number | undefined {
    return this.storeProfiler?.liveHolders();
  }

  /** Ends the current period and returns its profile; with `restart`, the next period starts with no gap. */
  rotate(restart: boolean, generateLabels?: GenerateLabels): Profile {
    const profiler = this.storeProfiler;
    const t0 = performance.now();
    if (profiler !== undefined) {
      if (!restart) this.storeProfiler = undefined;
      let t1 = t0;
      const profile = rotateStoreProfiler(profiler, restart, (raw) => {
        t1 = performance.now();
        return nativeTimeBindings.serialize(raw, this.options.samplingIntervalMicros, generateLabels);
      });
      const t2 = performance.now();
      this.lastRotation.serializeMillis = t2 - t1;
      this.lastRotation.sampleStopMillis = t2 - t0 - this.lastRotation.serializeMillis;
      return profile;
    }
    const profile = timeBindings.stop(restart, generateLabels);
    // The public API stops and serialises in one call.
    this.lastRotation.sampleStopMillis = performance.now() - t0;
    this.lastRotation.serializeMillis = 0;
    return profile;
  }
}

/**
 * The sample context a sample taken now would carry, whichever hand-off runs (tests and benchmarks check the
 * hand-off with it): the holder's value in the context store, else the public API's current context.
 */
export function sampleContextNow(): object | undefined {
  if (contextStoreUnavailable() === undefined) {
    const store = contextStorage().getStore() as Record<number, object | undefined> | undefined;
    if (store !== undefined && Object.hasOwn(store, 0)) return store[0];
  }
  return timeBindings.isStarted() ? timeBindings.getContext() : undefined;
}

/** Whether wall/CPU sampling runs in this thread, whichever engine runs it. */
export function timeSamplingActive(): boolean {
  return storeProfilerRunning() || timeBindings.isStarted();
}
