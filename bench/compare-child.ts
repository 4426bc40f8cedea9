// One server of bench/compare, in its own process: an OpenTelemetry HTTP service (NodeSDK 2.x, the HTTP
// instrumentation, a child span per request, about 0.75 ms of CPU per request) under one condition:
//   baseline | ours | ours-zero-code | dd-trace
// `ours-zero-code` is started by the parent with `-r build/src/register.js` (the profiler from the environment,
// before the application; the application's NodeSDK has no span processor of ours). `dd-trace` is Datadog's
// profiler (dd-trace with its tracing plugins off, profiling on, CPU time on), from DD_TRACE_MODULE.
// It answers the parent's IPC messages, one at a time:
//   { type: 'usage' }  -> { cpuMicros, requests, probeRuns, probeMicrosTotal, rssBytes, maxRssBytes, eventLoopMaxMillis, stats }
//   { type: 'heap' }   -> { heapUsedBytes (after full GCs, with --expose-gc), rssBytes, eventLoopMaxMillis, stats }
//   { type: 'stop' }   -> { stats }   stops (final upload) and exits
// and sends { port } once it listens on 127.0.0.1.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Profiler as ProfilerType, ProfilerStats } from '../src/profiler';

const condition = process.argv[2] ?? '';
const periodMillis = Number(process.env.BENCH_PERIOD_MILLIS ?? 10_000);

/** Datadog's profiler, as Blackfire's current Node probe runs it: before anything else is loaded. */
function startDatadog(): void {
  const moduleName = process.env.DD_TRACE_MODULE ?? 'dd-trace';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tracer = require(moduleName) as { init(options: object): unknown };
  tracer.init({ plugins: false, profiling: true, startupLogs: false });
}

if (condition === 'dd-trace') startDatadog();

let sink = 0;

/** The handler's own CPU work: price and serialise an order (about 0.5 ms). */
function buildOrder(id: number): string {
  const lines = [];
  for (let i = 0; i < 120; i++) lines.push({ sku: `sku-${(id * 7 + i) % 997}`, qty: (i % 5) + 1, price: ((id + i) % 100) * 0.99, tags: ['a', 'b'] });
  let checksum = 0;
  for (let i = 0; i < 60_000; i++) checksum = (Math.imul(checksum ^ i, 16777619) + id) | 0;
  const body = JSON.stringify({ id, lines, checksum });
  return JSON.stringify(JSON.parse(body));
}

/**
 * How fast this core runs right now (the shared machine drifts, and a neighbour on the same physical core slows it
 * while its time still counts as ours): a fixed piece of CPU work timed every 100 ms, summed per slice. Its own
 * time is taken out of the slice's CPU time.
 */
const probe = { runs: 0, micros: 0 };
const probeInput = Buffer.alloc(256 * 1024, 7);
function runProbe(): void {
  // Native code (SHA-256), not JavaScript: the JIT's state differs between processes, the hash does not.
  const t0 = process.hrtime.bigint();
  sink ^= createHash('sha256').update(probeInput).digest()[0]!;
  probe.micros += Number(process.hrtime.bigint() - t0) / 1000;
  probe.runs++;
}

/**
 * Variants of `ours` that switch one part off, to find where the cost goes (`--conditions=ours/no-heap,...`):
 * `no-heap` (heap sampling at 1 GiB: never), `no-spans` (no span processor, no hand-off), `no-alloc` (allocationProfiling: false), `hz=N`; and
 * `baseline/inspector`: V8's CPU profiler alone, through the inspector, at 1 Hz.
 */
const variant = new Set((process.env.BENCH_VARIANT ?? '').split(',').filter(Boolean));

async function newProfiler(): Promise<ProfilerType | undefined> {
  if (condition !== 'ours') return undefined;
  const { Profiler } = await import('../src/profiler.js');
  const hz = [...variant].find((v) => v.startsWith('hz='))?.slice(3);
  const profiler = new Profiler({
    agentSocket: process.env.BENCH_AGENT_SOCKET,
    applicationName: 'bench-compare',
    periodMillis,
    heapIntervalBytes: variant.has('no-heap') ? 2 ** 30 : undefined,
    samplingFrequencyHz: hz === undefined ? undefined : Number(hz),
    allocationProfiling: variant.has('no-alloc') ? false : undefined,
  });
  if (variant.has('no-spans')) (profiler as unknown as { otel: { enable(): void } }).otel.enable = () => {};
  return profiler;
}

/** The profiler register.js started (zero-code), if any. */
async function registeredProfiler(): Promise<ProfilerType | undefined> {
  if (condition !== 'ours-zero-code') return undefined;
  const { profiler } = await import('../src/register.js');
  return profiler;
}

/** Variant `inspector`: no profiler of ours, V8's own CPU profiler through the inspector at 1 Hz (the floor). */
async function startInspectorProfiler(): Promise<void> {
  if (!variant.has('inspector')) return;
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<void> => new Promise((resolve) => session.post(method, params ?? {}, () => resolve()));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 1_000_000 });
  await post('Profiler.start');
}

/** Variants `pprof-cped` / `pprof-nocped` / `pprof-plain`: the addon's public time profiler alone, at 1 Hz. */
async function startAddonOnly(): Promise<void> {
  const options = variant.has('pprof-cped')
    ? { withContexts: true, collectCpuTime: true, useCPED: true }
    : variant.has('pprof-nocped') ? { withContexts: true, collectCpuTime: true, useCPED: false } : variant.has('pprof-plain') ? {} : undefined;
  const pprof = await import('@datadog/pprof');
  // `heap-alloc` / `heap-live`: the addon's heap sampler alone (allocation mode or live heap), sampling every 1 GiB
  // or every `heapkb=N` KiB; with `heap-rotate`, a heap profile taken every period, as ours does.
  if (variant.has('heap-alloc') || variant.has('heap-live')) {
    const kib = [...variant].find((v) => v.startsWith('heapkb='))?.slice(7);
    pprof.heap.start(kib === undefined ? 2 ** 30 : Number(kib) * 1024, 64, variant.has('heap-alloc'));
    if (variant.has('heap-rotate')) setInterval(() => pprof.heap.profile(), periodMillis).unref();
    // `heap-get-only` / `heap-restart-only`: half of what profile() does in allocation mode, every period.
    const native = (await import('@datadog/pprof/out/src/heap-profiler-bindings.js' as string)) as { getAllocationProfile(): unknown; stopSamplingHeapProfiler(): void; startSamplingHeapProfiler(i: number, d: number, a: boolean): void };
    if (variant.has('heap-get-only')) setInterval(() => native.getAllocationProfile(), periodMillis).unref();
    if (variant.has('heap-restart-only')) {
      setInterval(() => {
        native.stopSamplingHeapProfiler();
        native.startSamplingHeapProfiler(kib === undefined ? 2 ** 30 : Number(kib) * 1024, 64, variant.has('heap-alloc'));
      }, periodMillis).unref();
    }
  }
  if (options === undefined) return;
  pprof.time.start({ intervalMicros: 1_000_000, durationMillis: 60_000, ...options });
}

async function main(): Promise<void> {
  await startInspectorProfiler();
  await startAddonOnly();
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  const httpInstrumentation = new HttpInstrumentation();
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor, InMemorySpanExporter } = await import('@opentelemetry/sdk-trace-base');
  const { trace } = await import('@opentelemetry/api');
  const http = await import('node:http');
  const profiler = await newProfiler();
  const zeroCode = await registeredProfiler();
  const exporter = new InMemorySpanExporter();
  const processors: unknown[] = [new BatchSpanProcessor(exporter, { maxQueueSize: 4096, scheduledDelayMillis: 1000 })];
  if (profiler && !variant.has('no-spans')) processors.unshift(profiler.spanProcessor());
  const sdk = new NodeSDK({ serviceName: 'bench-compare', instrumentations: [httpInstrumentation], spanProcessors: processors as never, metricReaders: [], logRecordProcessors: [] });
  profiler?.start();
  sdk.start();
  const tracer = trace.getTracer('bench');
  let requests = 0;
  const handle = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = requests;
    const body = await tracer.startActiveSpan('load-order', async (span: { end(): void }) => {
      await new Promise(setImmediate); // stands in for a database round trip
      const order = buildOrder(id);
      span.end();
      return order;
    });
    exporter.reset(); // spans are exported in batches and dropped: no memory growth from the exporter
    sink ^= body.length;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(body, () => requests++);
  };
  const server = http.createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 120_000;
  const eventLoop = monitorEventLoopDelay({ resolution: 2 });
  eventLoop.enable();
  let maxRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 100);
  rssTimer.unref();
  const stats = (): ProfilerStats | undefined => (profiler ?? zeroCode)?.stats();
  const probeTimer = setInterval(runProbe, 100);
  probeTimer.unref();
  process.on('message', (message: { type: string }) => {
    if (message.type === 'usage') {
      const usage = process.cpuUsage();
      const rss = process.memoryUsage().rss;
      maxRss = Math.max(maxRss, rss);
      process.send?.({ cpuMicros: usage.user + usage.system, requests, probeRuns: probe.runs, probeMicrosTotal: probe.micros, rssBytes: rss, maxRssBytes: maxRss, eventLoopMaxMillis: eventLoop.max / 1e6, stats: stats() });
      eventLoop.reset();
    } else if (message.type === 'heap') {
      // For bench/soak: the heap after a full GC (twice: the second frees what weak callbacks of the first left).
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      const memory = process.memoryUsage();
      process.send?.({ heapUsedBytes: memory.heapUsed, rssBytes: memory.rss, eventLoopMaxMillis: eventLoop.max / 1e6, stats: stats() });
      eventLoop.reset();
    } else if (message.type === 'stop') {
      server.closeAllConnections();
      server.close();
      void (async () => {
        await sdk.shutdown(); // ours: also stops the profiler (its span processor's shutdown)
        await zeroCode?.stop();
        process.send?.({ stats: stats(), sink });
        process.disconnect();
      })();
    }
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as { port: number }).port }));
}

void main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
