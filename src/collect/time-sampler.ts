import { timeBindings, type GenerateLabels, type Profile } from './pprof-bindings.js';

export interface TimeSamplerOptions {
  samplingIntervalMicros: number;
  periodMillis: number;
  useAsyncContextFrame: boolean;
}

/** Wall time and CPU time per stack (`wall.pprof`), sampled by V8's CPU profiler through @datadog/pprof. */
export class TimeSampler {
  constructor(private readonly options: TimeSamplerOptions) {}

  start(): void {
    timeBindings.start({
      samplingIntervalMicros: this.options.samplingIntervalMicros,
      // The sampler keeps per-sample contexts for about 2 x durationMillis; a rotation that runs late must
      // not lose samples, so give it twice the period of headroom.
      durationMillis: Math.max(2 * this.options.periodMillis, 10_000),
      useAsyncContextFrame: this.options.useAsyncContextFrame,
    });
  }

  /** Ends the current period and returns its profile; with `restart`, the next period starts with no gap. */
  rotate(restart: boolean, generateLabels?: GenerateLabels): Profile {
    return timeBindings.stop(restart, generateLabels);
  }

  isStarted(): boolean {
    return timeBindings.isStarted();
  }
}
