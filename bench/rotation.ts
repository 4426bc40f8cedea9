// Main-thread time the profiler takes once per period: the rotation (time sampler stop/restart with label
// generation and serialisation, then the heap profile: `stats().lastRotationMillis`), and the encoding
// (`lastEncodeMillis`: protobuf in slices + gzip on the thread pool, mostly off the main thread; the synchronous
// `profile.encode()` of the same profiles is timed too). The workload has a realistic number of distinct stacks:
// 300 generated functions, a seeded walk 12 calls deep, inside OTel spans, with a live heap of about 50 MB.
// Baseline windows (no profiler) alternate with profiled sessions of two periods each; the period is
// BENCH_PERIOD_MILLIS (default 5000, the default 45 s scaled down; nothing is extrapolated).
// Usage: node build/bench/rotation.js [--scale=N]
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { Profiler } from '../src/profiler';
import { heapBindings, nativeHeapBindings, nativeTimeBindings, timeBindings, type Profile } from '../src/collect/pprof-bindings';
import { benchScale, fmt, printRuntime, printTable, ratioRow, RATIO_HEADER, spread, startBenchAgent } from './harness';

const PERIOD_MILLIS = Number(process.env.BENCH_PERIOD_MILLIS ?? 5000);
const PERIODS_PER_SESSION = 2;
const FUNCTIONS = Number(process.env.BENCH_FUNCTIONS ?? 300);
const DEPTH = 12;
const DISTINCT_REQUESTS = 1000;
/** Live objects of ~200 bytes, allocated from the leaves' distinct stacks: 250k ~ 50 MB (BENCH_LIVE_MB). */
const RING = Math.round((Number(process.env.BENCH_LIVE_MB ?? 50) * 250_000) / 50);

type Handler = (depth: number, seed: number) => number;
const ring: unknown[] = new Array(RING);
let ringPos = 0;
const retain = (x: number, from: number): void => {
  ring[ringPos++ % RING] = { x, from, payload: new Array(16).fill(x) };
};
const handlers: Handler[] = [];
for (let i = 0; i < FUNCTIONS; i++) {
  const source = `return function handler_${i}(depth, seed) {
    let x = (seed ^ ${i * 7919}) >>> 0;
    for (let k = 0; k < 60; k++) x = Math.imul(x ^ k, 2654435761) >>> 0;
    if (depth === 0) { retain(x, ${i}); return x; }
    return handlers[x % ${FUNCTIONS}](depth - 1, x) ^ x;
  };`;
  handlers.push(new Function('handlers', 'retain', source)(handlers, retain) as Handler);
}

const tracer = trace.getTracer('bench');
let request = 0;
/** One "request": a server span, and a walk through the handlers picked by one of DISTINCT_REQUESTS seeds. */
function serveOne(): number {
  const seed = (request++ % DISTINCT_REQUESTS) * 2654435761;
  const span = tracer.startSpan('GET /work/:id', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': `/work/${request % 8}` } });
  const x = context.with(trace.setSpan(context.active(), span), () => handlers[seed % FUNCTIONS]!(DEPTH, seed));
  span.end();
  return x;
}

/** Requests in 20 ms slices, yielding between them; returns requests per second. Calls `poll` at each yield. */
async function serveFor(millis: number, poll: () => void = () => {}): Promise<number> {
  const start = performance.now();
  let served = 0;
  for (let slice = 0; slice < 100_000 && performance.now() < start + millis; slice++) {
    const sliceEnd = performance.now() + 20;
    while (performance.now() < sliceEnd) for (let k = 0; k < 8; k++, served++) serveOne();
    await yieldToEventLoop();
    poll();
  }
  return (served * 1000) / (performance.now() - start);
}

interface PeriodRecord { rotation: number; timeStop: number; serialize: number; heapProfile: number; encode: number; encodeWall: number; encodeSpace: number; wall: Profile; space: Profile; wallGz: number; spaceGz: number }

/** Keeps what the profiler's rotation gets from the sampler (the one door to the addon); timings come from stats(). */
const last = { wall: undefined as Profile | undefined, space: undefined as Profile | undefined };
const stop = timeBindings.stop;
timeBindings.stop = (restart, generateLabels) => (last.wall = stop(restart, generateLabels));
const serialize = nativeTimeBindings.serialize;
nativeTimeBindings.serialize = (raw, interval, generateLabels) => (last.wall = serialize(raw, interval, generateLabels));
const heapProfile = heapBindings.profile;
heapBindings.profile = () => (last.space = heapProfile());
const heapSerialize = nativeHeapBindings.serialize;
nativeHeapBindings.serialize = (root, startNanos, intervalBytes) => (last.space = heapSerialize(root, startNanos, intervalBytes));

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  return [fn(), performance.now() - t0];
}

/** One profiled session of PERIODS_PER_SESSION periods; each period is recorded once its upload is done. */
interface Window { rate: number; maxDelayMillis: number; startMillis: number }

async function profiledSession(profiler: Profiler, records: PeriodRecord[]): Promise<Window> {
  let pending: (Omit<PeriodRecord, 'encode' | 'encodeWall' | 'encodeSpace' | 'wallGz' | 'spaceGz'> & { uploads: number }) | undefined;
  const first = profiler.stats().periodsCollected; // the same Profiler runs several sessions
  let seen = first;
  const done = (): number => profiler.stats().uploadsSucceeded + profiler.stats().uploadsFailed;
  const poll = (): void => {
    const stats = profiler.stats();
    if (pending && done() > pending.uploads) {
      const [raw, encodeWall] = timed(() => pending!.wall.encode());
      const [rawSpace, encodeSpace] = timed(() => pending!.space.encode());
      records.push({ ...pending, encode: stats.lastEncodeMillis, encodeWall, encodeSpace, wallGz: gzipSync(raw).length, spaceGz: gzipSync(rawSpace).length });
      pending = undefined;
    }
    if (stats.periodsCollected > seen && seen < first + PERIODS_PER_SESSION) {
      seen = stats.periodsCollected;
      const steps = stats.lastRotationBreakdownMillis;
      pending = { rotation: stats.lastRotationMillis, timeStop: steps.sampleStop, serialize: steps.serialize, heapProfile: steps.heapProfile, wall: last.wall!, space: last.space!, uploads: done() };
    }
  };
  const [, startMillis] = timed(() => profiler.start());
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const rate = await serveFor(PERIODS_PER_SESSION * PERIOD_MILLIS + 300, poll);
  histogram.disable();
  // A rotation runs periodMillis after the previous one ended, so slow rotations drift: wait (at most 10 s)
  // for the session's last rotation and its upload.
  for (let i = 0; i < 400 && (pending || profiler.stats().periodsCollected < first + PERIODS_PER_SESSION); i++) await serveFor(25, poll);
  await profiler.stop();
  return { rate, maxDelayMillis: histogram.max / 1e6, startMillis };
}

async function baselineWindow(): Promise<Window> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const rate = await serveFor(PERIOD_MILLIS);
  histogram.disable();
  return { rate, maxDelayMillis: histogram.max / 1e6, startMillis: NaN };
}

async function main(): Promise<void> {
  const rounds = Math.max(2, Math.round(3 * benchScale()));
  printRuntime('bench/rotation: main-thread time per period (rotation, encoding)');
  const agent = await startBenchAgent();
  const profiler = new Profiler({ agentSocket: agent.address, applicationName: 'bench-rotation', periodMillis: PERIOD_MILLIS });
  const sdk = new NodeSDK({ serviceName: 'bench-rotation', spanProcessors: [profiler.spanProcessor() as never], metricReaders: [], logRecordProcessors: [] });
  sdk.start();
  const records: PeriodRecord[] = [];
  const windows = { baseline: [] as Window[], profiled: [] as Window[] };
  try {
    await serveFor(2000); // warm-up, and fills the live heap
    for (let round = 0; round < rounds; round++) {
      windows.baseline.push(await baselineWindow());
      windows.profiled.push(await profiledSession(profiler, records));
    }
  } finally {
    await sdk.shutdown();
    await agent.close();
  }
  console.log(`period ${PERIOD_MILLIS} ms, ${rounds} rounds of (baseline ${PERIOD_MILLIS} ms, profiled ${PERIODS_PER_SESSION} periods); ${records.length} periods recorded; agent accepted ${agent.uploads.length} uploads`);
  const heapMb = fmt(process.memoryUsage().heapUsed / 2 ** 20, 0);
  console.log(`workload: ${FUNCTIONS} functions, walks ${DEPTH + 1} deep from ${DISTINCT_REQUESTS} seeds, in server spans; ~${fmt((RING * 50) / 250_000, 0)} MB kept live (heapUsed at the end, garbage included: ${heapMb} MB)`);
  console.log('');
  const ms = (n: number): string => fmt(n, 1);
  printTable(
    ['period', 'rotation ms', 'V8 stop+restart ms', 'pprof+labels ms', 'heap.profile ms', 'encode ms (async)', 'encode() wall ms', 'encode() space ms', 'wall samples/rows/locations', 'space rows', 'wall/space gz KB'],
    records.map((r, i) => [
      String(i + 1), ms(r.rotation), ms(r.timeStop), ms(r.serialize), ms(r.heapProfile), ms(r.encode), ms(r.encodeWall), ms(r.encodeSpace),
      `${r.wall.sample.reduce((sum, x) => sum + Number(x.value[0]), 0)}/${r.wall.sample.length}/${r.wall.location.length}`, String(r.space.sample.length), `${fmt(r.wallGz / 1024, 0)}/${fmt(r.spaceGz / 1024, 0)}`,
    ]),
  );
  const col = (key: keyof PeriodRecord): number[] => records.map((r) => r[key] as number);
  console.log('');
  console.log(`per period, median [min..max]: rotation ${spread(col('rotation'), 1)} ms = ${spread(col('rotation').map((v) => (100 * v) / PERIOD_MILLIS), 3)} % of the period;`);
  console.log(`  encode (async, end to end) ${spread(col('encode'), 1)} ms; synchronous encode() wall ${spread(col('encodeWall'), 1)} ms + space ${spread(col('encodeSpace'), 1)} ms (encodeAsync runs it in 6 slices)`);
  console.log('');
  const of = (variant: 'baseline' | 'profiled', key: keyof Window): number[] => windows[variant].map((w) => w[key]);
  console.log(`profiler.start() ${spread(of('profiled', 'startMillis'), 1)} ms (V8's CPU profiler logs the code already in the heap; not in the windows below)`);
  console.log('');
  printTable(RATIO_HEADER, [
    ratioRow('requests/s (spans + profiler span processor)', of('baseline', 'rate'), of('profiled', 'rate'), 0),
    ratioRow('max event-loop delay (ms)', of('baseline', 'maxDelayMillis'), of('profiled', 'maxDelayMillis'), 1),
  ]);
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
