// Application overhead of the profiler, against a no-profiler baseline measured in the same invocation:
//   (a) a CPU-bound workload (work units per second), profiler only, no OpenTelemetry;
//   (b) an HTTP server under NodeSDK 2.x + instrumentation-http (requests/s, p50/p99 latency seen by a client).
// The baseline and the profiled application each run in their own process (bench/overhead-child.js), both alive
// at once; the load alternates between them in short slices, so that a shared machine's changing load hits both
// alike. A round (several slices each, longer than two profiler periods) gives one ratio; the table shows the
// median and range over rounds. CPU time is per process, all threads, idle time included: it counts the
// profiler's rotations, encoding, gzip and uploads (real ones, to the stand-in agent on a unix socket).
// Usage: node build/bench/overhead.js [cpu|http] [--scale=N]
// Env: BENCH_PERIOD_MILLIS (default 2000); BENCH_ALLOCATION_PROFILING=false (default: the profiler's, on for Node >= 26).
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ProfilerStats } from '../src/profiler';
import { benchScale, fmt, printRuntime, printTable, quantile, ratioRow, RATIO_HEADER, roundOrder, startBenchAgent, withTimeout, type BenchAgent, type WorkDone } from './harness';

const PERIOD_MILLIS = Number(process.env.BENCH_PERIOD_MILLIS ?? 2000);
const SLICE_MILLIS = 300;
const SLICES_PER_ROUND = 8; // per variant: 2 x 8 x 300 ms = 4.8 s per round, more than two periods
const WARMUP_MILLIS = 1500;
const CONCURRENCY = 16;
const SPAN_KINDS = ['internal', 'server', 'client', 'producer', 'consumer'];

type Mode = 'cpu' | 'http';
type Variant = 'baseline' | 'profiled';
interface Usage { cpuMicros: number; count: number }
interface Slice { count: number; elapsedMillis: number; latencies: number[] }
interface Report { stats?: ProfilerStats; spans?: Record<string, number> }
interface Round { rate: number; cpuMicrosPerCount: number; p50: number; p99: number }

/** A child application, spoken to one request at a time. */
class App {
  readonly child: ChildProcess;
  port = 0;
  constructor(readonly mode: Mode, readonly variant: Variant, agent: BenchAgent) {
    const env = { ...process.env, BENCH_AGENT_SOCKET: agent.address, BENCH_PERIOD_MILLIS: String(PERIOD_MILLIS) };
    this.child = fork(path.join(__dirname, 'overhead-child.js'), [mode, variant], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }
  next<T>(millis = 30_000): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`${this.mode} ${this.variant}: exited (${code}) before answering`));
      this.child.once('exit', onExit);
      this.child.once('message', (message) => {
        this.child.off('exit', onExit);
        resolve(message as T);
      });
    });
    return withTimeout(answer, millis, `${this.mode} ${this.variant}`);
  }
  request<T>(message: object, millis?: number): Promise<T> {
    const answer = this.next<T>(millis);
    this.child.send(message);
    return answer;
  }
  async ready(): Promise<void> {
    this.port = (await this.next<{ port?: number }>()).port ?? 0;
  }
  async stop(): Promise<Report> {
    try {
      return await this.request<Report>({ type: 'stop' });
    } finally {
      if (this.child.exitCode === null) await withTimeout(once(this.child, 'exit'), 15_000, 'exit').catch(() => this.child.kill('SIGKILL'));
    }
  }
}

function get(port: number, agent: http.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/orders/42', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** `CONCURRENCY` clients, each one request at a time, for `millis`. */
async function load(port: number, agent: http.Agent, millis: number): Promise<Slice> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + millis;
  const client = async (): Promise<void> => {
    for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
      const t0 = performance.now();
      await get(port, agent);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return { count: latencies.length, elapsedMillis: performance.now() - start, latencies };
}

function runSlice(app: App, agents: Map<App, http.Agent>, millis: number): Promise<Slice> {
  if (app.mode === 'http') return load(app.port, agents.get(app)!, millis);
  return app.request<WorkDone>({ type: 'work', millis }).then((done) => ({ count: done.units, elapsedMillis: done.elapsedMillis, latencies: [] }));
}

async function bench(mode: Mode, rounds: number, agent: BenchAgent): Promise<string[][]> {
  const apps = { baseline: new App(mode, 'baseline', agent), profiled: new App(mode, 'profiled', agent) };
  const keepAlive = new Map([apps.baseline, apps.profiled].map((app) => [app, new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })]));
  const results: Record<Variant, Round[]> = { baseline: [], profiled: [] };
  const uploadsBefore = agent.uploads.length;
  const reports: Partial<Record<Variant, Report>> = {};
  try {
    await Promise.all([apps.baseline.ready(), apps.profiled.ready()]);
    for (const app of [apps.baseline, apps.profiled]) await runSlice(app, keepAlive, WARMUP_MILLIS);
    for (let round = 0; round < rounds; round++) {
      const start = { baseline: await apps.baseline.request<Usage>({ type: 'usage' }), profiled: await apps.profiled.request<Usage>({ type: 'usage' }) };
      const slices: Record<Variant, Slice[]> = { baseline: [], profiled: [] };
      for (let i = 0; i < SLICES_PER_ROUND; i++) {
        for (const variant of roundOrder<Variant>(round + i, 'baseline', 'profiled')) slices[variant].push(await runSlice(apps[variant], keepAlive, SLICE_MILLIS));
      }
      for (const variant of ['baseline', 'profiled'] as const) {
        const end = await apps[variant].request<Usage>({ type: 'usage' });
        const count = slices[variant].reduce((sum, s) => sum + s.count, 0);
        const latencies = slices[variant].flatMap((s) => s.latencies);
        results[variant].push({
          rate: (count * 1000) / slices[variant].reduce((sum, s) => sum + s.elapsedMillis, 0),
          cpuMicrosPerCount: (end.cpuMicros - start[variant].cpuMicros) / (end.count - start[variant].count),
          p50: quantile(latencies, 0.5),
          p99: quantile(latencies, 0.99),
        });
      }
    }
  } finally {
    for (const a of keepAlive.values()) a.destroy();
    for (const variant of ['baseline', 'profiled'] as const) reports[variant] = await apps[variant].stop().catch(() => ({}));
  }
  describe(mode, reports, agent.uploads.length - uploadsBefore);
  const column = (variant: Variant, key: keyof Round): number[] => results[variant].map((r) => r[key]);
  const row = (label: string, key: keyof Round, digits: number): string[] => ratioRow(`${mode}: ${label}`, column('baseline', key), column('profiled', key), digits);
  if (mode === 'cpu') return [row('work units/s while busy', 'rate', 0), row('process CPU µs per work unit', 'cpuMicrosPerCount', 3)];
  return [
    row(`requests/s (${CONCURRENCY} clients)`, 'rate', 0),
    row('p50 latency (ms)', 'p50', 3),
    row('p99 latency (ms)', 'p99', 3),
    row('server CPU µs per request', 'cpuMicrosPerCount', 1),
  ];
}

function describe(mode: Mode, reports: Partial<Record<Variant, Report>>, accepted: number): void {
  const stats = reports.profiled?.stats;
  const uploads = stats ? `${stats.periodsCollected} periods, uploads ok ${stats.uploadsSucceeded}, failed ${stats.uploadsFailed}, dropped ${stats.periodsDropped}` : 'no stats';
  console.log(`${mode}: profiled application: ${uploads}; agent accepted ${accepted} upload(s)`);
  for (const variant of ['baseline', 'profiled'] as const) {
    const spans = reports[variant]?.spans;
    if (spans) console.log(`${mode}: ${variant} exported spans: ${Object.entries(spans).map(([kind, n]) => `${SPAN_KINDS[Number(kind)]} ${n}`).join(', ')}`);
  }
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).find((arg): arg is Mode => arg === 'cpu' || arg === 'http');
  const rounds = Math.max(2, Math.round(5 * benchScale()));
  printRuntime('bench/overhead: application throughput, latency and CPU time, no profiler vs profiler');
  console.log(`${rounds} rounds per workload; a round = ${SLICES_PER_ROUND} x ${SLICE_MILLIS} ms slices per variant, alternating; periodMillis ${PERIOD_MILLIS}`);
  if (process.env.BENCH_ALLOCATION_PROFILING !== undefined) console.log(`allocationProfiling: ${process.env.BENCH_ALLOCATION_PROFILING !== 'false'}`);
  const agent = await startBenchAgent();
  try {
    const rows: string[][] = [];
    for (const mode of ['cpu', 'http'] as const) if (!only || only === mode) rows.push(...(await bench(mode, rounds, agent)));
    console.log('');
    printTable(RATIO_HEADER, rows);
    console.log("throughput: ratio < 1 is the profiler's cost; latency and CPU time per unit/request: ratio > 1 is.");
    console.log(`per-period costs (rotation, encoding, upload; Node >= 26: a forced GC) weigh ${fmt(45_000 / PERIOD_MILLIS, 1)}x more here than at the default 45 s period.`);
  } finally {
    await agent.close();
  }
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
