// What the OTLP profiles encoding costs per period against the Blackfire upload's, on a workload with many
// distinct stacks (generated functions, seeded walks 12 deep, inside spans): main-thread ms to build the
// protobuf (OTLP: mapping + protobufjs; Blackfire: pprof-format's synchronous encode of both pprofs), and bytes
// sent (gzipped). Periods are captured from a real Profiler run, then encoded here, each 5 times (median).
// Usage: node build/bench/otlp-encode.js [--functions=300] [--periods=3] [--period-millis=2000]
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../src/profiler';
import type { ProfileExporter } from '../src/export/exporter';
import type { ProfilePeriod } from '../src/profile/period';
import { encodeProfilesRequest } from '../src/export/otlp/profiles-request';
import { buildUpload } from '../src/export/blackfire/upload-builder';
import { median, printTable } from './harness';

const gzip = promisify(zlib.gzip);
const arg = (name: string, fallback: number): number => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const FUNCTIONS = arg('functions', 300);
const PERIODS = arg('periods', 3);
const PERIOD_MILLIS = arg('period-millis', 2000);

async function main(): Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const captured: ProfilePeriod[] = [];
  const capture: ProfileExporter = { name: 'capture', export: async (p) => (captured.push(p), { code: 'success', attempts: 1 }), forceFlush: async () => {}, shutdown: async () => {} };
  const profiler = new Profiler({ applicationName: 'bench-otlp', periodMillis: PERIOD_MILLIS, exporters: [capture] });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('bench');
  // Distinct functions calling each other along a seeded walk: many distinct stacks, as a real service has.
  const fns: Array<(depth: number, seed: number) => number> = [];
  for (let i = 0; i < FUNCTIONS; i++) {
    fns.push(new Function('fns', 'depth', 'seed', `let x = seed; for (let k = 0; k < 200; k++) x = (x * 1103515245 + 12345) % 2147483648; return depth === 0 ? x : fns[(seed + ${i} * 7) % fns.length](depth - 1, x);`).bind(null, fns) as never);
  }
  profiler.start();
  const end = Date.now() + PERIODS * PERIOD_MILLIS + 200;
  let seed = 1;
  while (Date.now() < end) {
    const span = tracer.startSpan(`GET /r${seed % 20}`);
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => fns[seed % fns.length]!(12, seed));
    span.end();
    seed++;
    if (seed % 200 === 0) await new Promise(setImmediate);
  }
  await profiler.stop();
  const rows: string[][] = [];
  const otlpMs: number[] = [];
  const bfMs: number[] = [];
  for (const period of captured.slice(0, PERIODS)) {
    const time = (fn: () => unknown): number => median(Array.from({ length: 5 }, () => {
      const t0 = performance.now();
      fn();
      return performance.now() - t0;
    }));
    const otlp = time(() => encodeProfilesRequest(period, { name: 'blackfire-otel-profiler', version: 'bench' }));
    const pprofSync = time(() => (period.wall.encode(), period.space.encode()));
    const otlpBytes = (await gzip(encodeProfilesRequest(period, { name: 'b', version: 'b' }))).length;
    const upload = await buildUpload(period);
    const bfBytes = upload.files.reduce((sum, f) => sum + f.data.length, 0) + JSON.stringify(upload.event).length;
    otlpMs.push(otlp);
    bfMs.push(pprofSync);
    rows.push([String(rows.length + 1), String(period.wall.sample.length), String(period.wall.location.length), otlp.toFixed(1), pprofSync.toFixed(1), String(otlpBytes), String(bfBytes)]);
  }
  process.stdout.write(`# bench/otlp-encode: node ${process.version}, ${FUNCTIONS} functions, walks 12 deep, period ${PERIOD_MILLIS} ms\n`);
  printTable(['period', 'wall samples', 'wall locations', 'OTLP encode ms (main thread)', 'pprof encode ms (main thread, Blackfire)', 'OTLP bytes (gzip)', 'Blackfire bytes (gzip pprofs + event.json)'], rows);
  process.stdout.write(`median: OTLP ${median(otlpMs).toFixed(1)} ms vs Blackfire's synchronous pprof encode ${median(bfMs).toFixed(1)} ms (which the profiler runs in slices, off the critical path)\n`);
}

void main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
