import { heapBindings, type Profile } from './pprof-bindings.js';

export interface HeapSamplerOptions {
  heapIntervalBytes: number;
  heapStackDepth: number;
  /** Also record alloc_objects/alloc_space (Node.js >= 26; forces a full GC at each profile). */
  allocations: boolean;
}

/** Live heap (`inuse_*`) and, on Node.js >= 26, allocations (`alloc_*`) per stack: `space.pprof`. */
export class HeapSampler {
  private started = false;

  constructor(private readonly options: HeapSamplerOptions) {}

  start(): void {
    if (this.started) return;
    heapBindings.start(this.options.heapIntervalBytes, this.options.heapStackDepth, this.options.allocations);
    this.started = true;
  }

  /** The heap profile now; in allocation mode, allocations since the previous profile. */
  profile(): Profile {
    return heapBindings.profile();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    heapBindings.stop();
  }
}
