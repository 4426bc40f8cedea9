// Node.js >= 26 only: what allocation profiling (alloc_objects/alloc_space, `allocationProfiling: true`) costs.
// The heap profile of each period then restarts V8's sampling heap profiler, which forces a full GC, so its
// cost grows with the live heap. Measured with ~50 MB and ~200 MB of live objects: the time of
// `heap.profile()` per period, and the application's throughput, with allocation profiling on vs off, and
// against no profiler at all. Runs of the three variants alternate in the same process, several rounds.
// Usage: node build/bench/allocation-gc.js [--scale=N]
import { performance } from 'node:perf_hooks';
import { Profiler } from '../src/profiler';
import { heapBindings } from '../src/collect/pprof-bindings';
import { benchScale, doWork, fmt, median, NODE_MAJOR, printRuntime, printTable, ratioRow, RATIO_HEADER, spread, startBenchAgent, type BenchAgent } from './harness';

const LIVE_HEAP_MB = [50, 200];
const PERIOD_MILLIS = 2000;
const PERIODS_PER_RUN = 2;
const VARIANTS = ['none', 'inuse only', 'allocations'] as const;
type Variant = (typeof VARIANTS)[number];

/** Times every heap profile taken while `current` is set (the profiler's own rotations; not the one in stop()). */
let current: number[] | undefined;
const heapProfile = heapBindings.profile;
heapBindings.profile = () => {
  const t0 = performance.now();
  const profile = heapProfile();
  current?.push(performance.now() - t0);
  return profile;
};

/** Keeps about `megabytes` MB of small objects alive (many objects: a full GC's marking cost is per object). */
function buildLiveHeap(megabytes: number, keep: unknown[][]): number {
  const base = process.memoryUsage().heapUsed;
  for (let chunk = 0; chunk < 100_000 && process.memoryUsage().heapUsed - base < megabytes * 2 ** 20; chunk++) {
    const objects = new Array(10_000);
    for (let i = 0; i < objects.length; i++) objects[i] = { id: i, name: `n${(chunk * 10_000 + i) % 100_003}`, value: i * 0.5, tags: [chunk, i] };
    keep.push(objects);
  }
  return (process.memoryUsage().heapUsed - base) / 2 ** 20;
}

interface Run { unitsPerSecond: number; heapProfileMillis: number[]; rotationMillis: number }

async function run(variant: Variant, agent: BenchAgent): Promise<Run> {
  const profiler =
    variant === 'none'
      ? undefined
      : new Profiler({ agentSocket: agent.address, applicationName: 'bench-allocation-gc', periodMillis: PERIOD_MILLIS, allocationProfiling: variant === 'allocations' });
  profiler?.start();
  const heapProfileMillis: number[] = [];
  current = heapProfileMillis;
  const done = await doWork(PERIODS_PER_RUN * PERIOD_MILLIS + 250);
  current = undefined;
  const rotationMillis = profiler?.stats().lastRotationMillis ?? NaN;
  await profiler?.stop();
  return { unitsPerSecond: (done.units * 1000) / done.elapsedMillis, heapProfileMillis, rotationMillis };
}

async function benchLiveHeap(megabytes: number, rounds: number, agent: BenchAgent): Promise<void> {
  const keep: unknown[][] = [];
  const built = buildLiveHeap(megabytes, keep);
  const runs: Record<Variant, Run[]> = { none: [], 'inuse only': [], allocations: [] };
  await doWork(1000); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
    for (const variant of order) runs[variant].push(await run(variant, agent));
  }
  const heapMillis = (variant: Variant): number[] => runs[variant].flatMap((r) => r.heapProfileMillis);
  const rate = (variant: Variant): number[] => runs[variant].map((r) => r.unitsPerSecond);
  console.log('');
  console.log(`## live heap ~${megabytes} MB (built ${fmt(built, 0)} MB; heapUsed ${fmt(process.memoryUsage().heapUsed / 2 ** 20, 0)} MB)`);
  console.log(`heap.profile() per period, ms, median [min..max]: inuse only ${spread(heapMillis('inuse only'), 1)}; allocations ${spread(heapMillis('allocations'), 1)}`);
  const rotation = (variant: Variant): string => spread(runs[variant].map((r) => r.rotationMillis), 1);
  console.log(`whole rotation (last of each run), ms: inuse only ${rotation('inuse only')}; allocations ${rotation('allocations')}`);
  printTable(RATIO_HEADER, [
    ratioRow('heap.profile() ms: allocations vs inuse only', runs['inuse only'].map((r) => median(r.heapProfileMillis)), runs.allocations.map((r) => median(r.heapProfileMillis)), 1),
    ratioRow('work units/s: allocations vs inuse only', rate('inuse only'), rate('allocations'), 0),
    ratioRow('work units/s: inuse only vs no profiler', rate('none'), rate('inuse only'), 0),
    ratioRow('work units/s: allocations vs no profiler', rate('none'), rate('allocations'), 0),
  ]);
  keep.length = 0;
}

async function main(): Promise<void> {
  if (NODE_MAJOR < 26) {
    console.log(`bench/allocation-gc: allocation profiling needs Node.js >= 26; this is ${process.version}: nothing to measure.`);
    return;
  }
  const rounds = Math.max(2, Math.round(3 * benchScale()));
  printRuntime('bench/allocation-gc: the forced GC of allocation profiling');
  console.log(`${rounds} rounds per live heap size; a run = ${PERIODS_PER_RUN} periods of ${PERIOD_MILLIS} ms of a CPU/JSON workload; variants alternate`);
  const agent = await startBenchAgent();
  try {
    for (const megabytes of LIVE_HEAP_MB) await benchLiveHeap(megabytes, rounds, agent);
    console.log('');
    console.log(`agent accepted ${agent.uploads.length} uploads`);
  } finally {
    await agent.close();
  }
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
