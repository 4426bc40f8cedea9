import { profilerDiag } from '../diag.js';
import { heapBindings, nativeHeapBindings, type AllocationNode, type Profile } from './pprof-bindings.js';

export interface HeapSamplerOptions {
  heapIntervalBytes: number;
  heapStackDepth: number;
  /** Also record alloc_objects/alloc_space (Node.js >= 26; V8 forces a full GC at each profile). */
  allocations: boolean;
  /** In allocation mode, V8's sampler is restarted once it holds about this many samples (default 500k). */
  maxAllocationSamples?: number;
}

/**
 * V8 keeps every allocation sample, live or collected, until its sampler stops: about 20 bytes each (measured
 * on Node 26), one per `heapIntervalBytes` allocated. 500k samples (~10 MB) at the default 512 KiB interval
 * is 250 GB allocated between two restarts: about 40 minutes at 100 MB/s.
 */
const DEFAULT_MAX_ALLOCATION_SAMPLES = 500_000;

/**
 * Live heap (`inuse_*`) and, on Node.js >= 26, allocations (`alloc_*`) per stack: `space.pprof`.
 *
 * In allocation mode V8's figures are cumulative since its sampler started, and a restarted sampler forgets the
 * objects it sampled before (their later frees are never seen). So the sampler is not restarted per period: each
 * period's `alloc_*` is the difference of the cumulative figures per call-tree node against the previous profile,
 * and `inuse_*` covers the whole live heap. V8 is restarted only when its sample buffer reaches
 * `maxAllocationSamples`; the period after a restart counts live objects allocated since (`restarts` says when).
 */
export class HeapSampler {
  private started = false;
  private direct = false;
  /** Node ids by parent id and frame, and each node's cumulative alloc objects/bytes at the previous profile. */
  private nodeIds = new Map<string, number>();
  private previous: number[] = [];
  private readonly maxSamples: number;
  restarts = 0;

  constructor(private readonly options: HeapSamplerOptions) {
    this.maxSamples = options.maxAllocationSamples ?? DEFAULT_MAX_ALLOCATION_SAMPLES;
  }

  start(): void {
    if (this.started) return;
    const { heapIntervalBytes, heapStackDepth, allocations } = this.options;
    const missing = allocations ? nativeHeapBindings.missing() : undefined;
    if (missing !== undefined) profilerDiag().info(`allocation profiling: the addon's heap internals changed (${missing}); V8's sampler restarts at every profile, so inuse_* covers each period's allocations only`);
    this.direct = allocations && missing === undefined;
    if (this.direct) nativeHeapBindings.start(heapIntervalBytes, heapStackDepth);
    else heapBindings.start(heapIntervalBytes, heapStackDepth, allocations);
    this.started = true;
  }

  /** The heap profile now: the live heap, and in allocation mode the allocations since the previous profile. */
  profile(): Profile {
    if (!this.direct) return heapBindings.profile();
    const root = nativeHeapBindings.tree();
    const cumulativeBytes = this.toPeriod(root);
    const external = process.memoryUsage().external;
    if (external > 0) {
      root.children.push({ name: '(external)', scriptName: '', children: [], allocations: [{ inuseObjects: 1, inuseSpaceBytes: external, allocObjects: 0, allocSpaceBytes: 0 }] });
    }
    const profile = nativeHeapBindings.serialize(root, Date.now() * 1e6, this.options.heapIntervalBytes);
    if (cumulativeBytes / this.options.heapIntervalBytes >= this.maxSamples) this.restart();
    return profile;
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    if (this.direct) nativeHeapBindings.stop();
    else heapBindings.stop();
    this.forget();
  }

  /** Rewrites the tree in place to one entry per node (live now, allocated this period); returns V8's total. */
  private toPeriod(root: AllocationNode): number {
    let cumulativeBytes = 0;
    const current: number[] = [];
    const stack: Array<[AllocationNode, number]> = [[root, -1]];
    while (stack.length > 0) {
      const [node, parentId] = stack.pop()!;
      const frame = `${parentId} ${node.scriptId ?? node.scriptName} ${node.lineNumber ?? ''} ${node.columnNumber ?? ''} ${node.name}`;
      let id = this.nodeIds.get(frame);
      if (id === undefined) this.nodeIds.set(frame, (id = this.nodeIds.size));
      let inuseObjects = 0, inuseSpaceBytes = 0, allocObjects = 0, allocSpaceBytes = 0;
      for (const a of node.allocations) {
        inuseObjects += a.inuseObjects;
        inuseSpaceBytes += a.inuseSpaceBytes;
        allocObjects += a.allocObjects;
        allocSpaceBytes += a.allocSpaceBytes;
      }
      cumulativeBytes += allocSpaceBytes;
      current[2 * id] = allocObjects;
      current[2 * id + 1] = allocSpaceBytes;
      const periodObjects = Math.max(0, allocObjects - (this.previous[2 * id] ?? 0));
      const periodBytes = Math.max(0, allocSpaceBytes - (this.previous[2 * id + 1] ?? 0));
      node.allocations = inuseObjects > 0 || periodObjects > 0 ? [{ inuseObjects, inuseSpaceBytes, allocObjects: periodObjects, allocSpaceBytes: periodBytes }] : [];
      for (const child of node.children) stack.push([child, id]);
    }
    this.previous = current;
    return cumulativeBytes;
  }

  private restart(): void {
    nativeHeapBindings.stop();
    nativeHeapBindings.start(this.options.heapIntervalBytes, this.options.heapStackDepth);
    this.forget();
    this.restarts++;
    profilerDiag().debug(`allocation profiling: V8's heap sampler restarted after ${this.maxSamples} samples (restart ${this.restarts})`);
  }

  private forget(): void {
    this.nodeIds = new Map();
    this.previous = [];
  }
}
