// Native memory over start/stop cycles: RSS and heap after GC every N cycles, for our Profiler and for the
// addon's parts alone (its public time profiler; its heap profiler), to tell whose memory it is.
// Usage: node --expose-gc build/bench/start-stop.js [--cycles=3000] [--what=ours,store,addon-time,addon-heap]
// Each part is best measured in its own process (--what=one): freed memory is reused by the next part.
import * as path from 'node:path';
import * as os from 'node:os';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as pprof from '@datadog/pprof';
import { Profiler } from '../src/profiler';
import { rotateStoreProfiler, startStoreProfiler } from '../src/collect/context-store';
import { nativeTimeBindings } from '../src/collect/pprof-bindings';
import { printTable } from './harness';

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const CYCLES = Number(arg('cycles') ?? 3000);
const WHAT = (arg('what') ?? 'ours,addon-time,addon-heap').split(',');
const MiB = 2 ** 20;
const gzip = promisify(zlib.gzip);
const payload = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `frame-${i % 997}:${(i * 7919) % 104729};`).join(''));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function cycle(what: string): Promise<void> {
  if (what === 'ours') {
    // An agent that is not there: stop()'s final upload fails at once (ENOENT), nothing waits.
    const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 100, agentSocket: `unix://${path.join(os.tmpdir(), 'bf-nonexistent.sock')}` });
    profiler.start();
    await profiler.stop();
  } else if (what === 'store') {
    // The context store's native profiler alone (kept, stopped and restarted as ours is), the raw profile serialised.
    const profiler = startStoreProfiler(10_000, 90_000);
    rotateStoreProfiler(profiler, false, (raw) => nativeTimeBindings.serialize(raw, 10_000));
  } else if (what === 'gzip') {
    // What each period's encoding does besides the samplers: two gzips on libuv's thread pool.
    await Promise.all([gzip(payload), gzip(payload)]);
  } else if (what === 'addon-time') {
    pprof.time.start({ intervalMicros: 10_000, durationMillis: 60_000, withContexts: true, collectCpuTime: true, useCPED: true });
    pprof.time.stop(false);
  } else if (what === 'addon-heap') {
    pprof.heap.start(512 * 1024, 64);
    pprof.heap.profile();
    pprof.heap.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(`# bench/start-stop: ${CYCLES} cycles each, node ${process.version}\n`);
  const step = Math.max(1, Math.round(CYCLES / 6));
  for (const what of WHAT) {
    const rows: string[][] = [];
    const t0 = Date.now();
    for (let i = 0; i <= CYCLES; i++) {
      if (i % step === 0) {
        gc();
        gc();
        const m = process.memoryUsage();
        rows.push([String(i), (m.rss / MiB).toFixed(1), (m.heapUsed / MiB).toFixed(1), (m.external / MiB).toFixed(1)]);
      }
      if (i < CYCLES) await cycle(what);
    }
    process.stdout.write(`\n${what} (${((Date.now() - t0) / CYCLES).toFixed(1)} ms per cycle)\n`);
    printTable(['cycles', 'RSS MB', 'heap after GC MB', 'external MB'], rows);
  }
}

void main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
