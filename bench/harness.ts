// What every benchmark shares: the stand-in agent on a unix socket, a fixed CPU work unit, interleaved rounds,
// medians and the printed table. Benchmarks print numbers and ratios; they never assert timings.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { startAgentServer, type AgentServer } from '../src/agent/agent-server';
import { isAsyncContextFrameActive } from '../src/collect/pprof-bindings';
import { contextStoreUnavailable } from '../src/collect/context-store';

export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/**
 * How much longer than the default to run: `--scale=N` or env `BENCH_SCALE` (default 1). Benchmarks multiply
 * their number of rounds (or periods) by it; the default keeps each benchmark under about two minutes.
 */
export function benchScale(): number {
  const flag = process.argv.find((arg) => arg.startsWith('--scale='))?.slice('--scale='.length);
  const scale = Number(flag ?? process.env.BENCH_SCALE ?? 1);
  if (!Number.isFinite(scale) || scale <= 0 || scale > 50) throw new Error(`BENCH_SCALE / --scale must be in (0, 50], got ${flag ?? process.env.BENCH_SCALE}`);
  return scale;
}

export function printRuntime(title: string): void {
  const unavailable = contextStoreUnavailable();
  const handOff = unavailable === undefined
    ? 'context store (AsyncContextFrame, one AsyncLocalStorage.run per switch)'
    : isAsyncContextFrameActive() ? `time.runWithContext (${unavailable})` : 'async_hooks before/after + setContext';
  console.log(`# ${title}`);
  console.log(`node ${process.version} ${process.platform}/${process.arch}, ${os.availableParallelism()} CPUs, span hand-off: ${handOff}`);
}

export interface BenchAgent extends AgentServer {
  dir: string;
}

/** The real stand-in agent (parses the multipart body, decodes the pprofs) on a unix socket in a temp folder. */
export async function startBenchAgent(): Promise<BenchAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-bench-'));
  const server = await startAgentServer({ listen: `unix://${path.join(dir, 'agent.sock')}`, dir: process.env.BENCH_SAVE_DIR });
  const close = server.close;
  return Object.assign(server, {
    dir,
    close: async () => {
      await close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}

let sink = 0;

/** One unit of application-like CPU work: JSON round trip, a regex, some floating point. Allocates. */
export function workUnit(i: number): number {
  const doc = { id: i, name: `item-${i}`, tags: ['red', 'green', 'blue'], price: i * 1.25, nested: { x: i & 255, y: [1, 2, 3] } };
  const text = JSON.stringify(doc);
  const back = JSON.parse(text) as typeof doc;
  const match = /item-(\d+)/.exec(back.name);
  let acc = 0;
  for (let k = 1; k < 120; k++) acc += Math.sqrt(k * (i & 1023)) * Math.sin(k);
  sink = (sink + (acc | 0) + Number(match?.[1] ?? 0) + text.length) | 0;
  return sink;
}

export interface WorkDone {
  units: number;
  elapsedMillis: number;
  /** Process CPU time (user + system, all threads: the profiler's gzip and upload included), in µs. */
  cpuMicros: number;
}

/**
 * Runs `unit` in slices of about `sliceMillis`, yielding to the event loop between slices (so the profiler's
 * timers and uploads run, as in a real application), for `millis`.
 */
export async function doWork(millis: number, unit: (i: number) => unknown = workUnit, sliceMillis = 10): Promise<WorkDone> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const end = start + millis;
  let units = 0;
  for (let slice = 0; slice < 1_000_000 && performance.now() < end; slice++) {
    const sliceEnd = performance.now() + sliceMillis;
    for (let batch = 0; batch < 100_000 && performance.now() < sliceEnd; batch++) {
      for (let k = 0; k < 16; k++) unit(units++);
    }
    await yieldToEventLoop();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { units, elapsedMillis: performance.now() - start, cpuMicros: cpu.user + cpu.system };
}

/** Baseline first on even rounds, profiled first on odd ones: slow drift of a shared machine cancels out. */
export function roundOrder<T>(round: number, baseline: T, profiled: T): [T, T] {
  return round % 2 === 0 ? [baseline, profiled] : [profiled, baseline];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `median [min..max]` of a list of measurements. */
export function spread(values: readonly number[], digits = 2): string {
  if (values.length === 0) return '-';
  return `${fmt(median(values), digits)} [${fmt(Math.min(...values), digits)}..${fmt(Math.max(...values), digits)}]`;
}

/**
 * One table row comparing paired rounds: the baseline and profiled medians, and the median (min..max) of the
 * per-round ratios profiled / baseline. Pairing rounds keeps the drift of a noisy machine out of the ratio.
 */
export function ratioRow(variant: string, baseline: readonly number[], profiled: readonly number[], digits = 2): string[] {
  const ratios = baseline.map((b, i) => profiled[i]! / b).filter(Number.isFinite);
  return [variant, fmt(median(baseline), digits), fmt(median(profiled), digits), spread(ratios, 3)];
}

export const RATIO_HEADER = ['variant', 'baseline (median)', 'profiled (median)', 'ratio profiled/baseline: median [min..max]'];

export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/** Rejects after `millis` (unref'ed timer): every wait of a benchmark is bounded. */
export function withTimeout<T>(promise: Promise<T>, millis: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${millis} ms`)), millis);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
