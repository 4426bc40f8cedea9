// How long start() holds the main thread, against the heap and the code already loaded: V8's CPU profiler logs
// every code object that exists when it starts. Builds a heap of --heap-mb MB of data and --functions compiled
// functions, then times profiler.start() (and stop()) in this process, once per size.
// Usage: node build/bench/start-pause.js [--heap-mb=0,50,100,200] [--functions=20000]
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Profiler } from '../src/profiler';
import { printTable } from './harness';

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SIZES = (arg('heap-mb') ?? '0,50,100,200').split(',').map(Number);
const FUNCTIONS = Number(arg('functions') ?? 20_000);
const keep: unknown[] = [];

function growHeapTo(mb: number): void {
  // Strings and small objects (as a real heap holds), until the heap is about `mb` MB.
  while (process.memoryUsage().heapUsed < mb * 2 ** 20) {
    keep.push(Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `item-${keep.length}-${i}`, tags: [i, i + 1] })));
  }
}

function compileFunctions(count: number): void {
  // Distinct sources: each is its own compiled code, run once so that V8 has code for it.
  for (let i = 0; i < count; i++) {
    const fn = new Function('x', `return function f${i}(y) { return x * ${i} + y + ${i % 7}; }`)(i) as (y: number) => number;
    fn(i);
    keep.push(fn);
  }
}

async function main(): Promise<void> {
  compileFunctions(FUNCTIONS);
  // The addon's load and the first native profiler are one-time costs: paid here, not measured.
  const warm = new Profiler({ applicationName: 'bench-start-pause', periodMillis: 60_000, uploadTimeoutMillis: 100, agentSocket: `unix://${path.join(os.tmpdir(), 'bf-nonexistent.sock')}` });
  warm.start();
  await warm.stop();
  const rows: string[][] = [];
  for (const mb of SIZES) {
    growHeapTo(mb);
    const profiler = new Profiler({ applicationName: 'bench-start-pause', periodMillis: 60_000, uploadTimeoutMillis: 100, agentSocket: `unix://${path.join(os.tmpdir(), 'bf-nonexistent.sock')}` });
    const t0 = performance.now();
    profiler.start();
    const startMillis = performance.now() - t0;
    const t1 = performance.now();
    // stop() is async; its synchronous part (rotation, heap profile) is what holds the loop.
    const stopped = profiler.stop();
    const stopSyncMillis = performance.now() - t1;
    await stopped;
    rows.push([(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0), String(FUNCTIONS), startMillis.toFixed(1), stopSyncMillis.toFixed(1)]);
  }
  console.log(`start() pause, ${process.version}, ${os.cpus().length} CPUs`);
  printTable(['heap used MB', 'compiled functions', 'start() ms', 'stop() sync part ms'], rows);
}

void main();
