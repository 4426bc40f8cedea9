// One application of bench/overhead, in its own process, forked with an IPC channel by overhead.js:
//   overhead-child.js cpu|http baseline|profiled
// It answers each message from the parent with one message:
//   { type: 'usage' }          -> { cpuMicros, count }    process CPU time so far; work units done / requests served
//   { type: 'work', millis }   -> { units, elapsedMillis } (cpu) runs the CPU-bound workload for `millis`
//   { type: 'stop' }           -> { stats, spans }        stops the profiler (final upload) and exits
// and, in http mode, first sends { port } once its server listens on 127.0.0.1.
// HTTP instrumentation must patch node:http before anything loads it (NodeSDK's exporters do, and so does the
// profiler's upload client): it is created first and everything else is imported after it.
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Profiler as ProfilerType } from '../src/profiler';

const [mode, variant] = process.argv.slice(2);
const agentSocket = process.env.BENCH_AGENT_SOCKET;
const periodMillis = Number(process.env.BENCH_PERIOD_MILLIS ?? 2000);

type Message = { type: 'usage' } | { type: 'work'; millis: number } | { type: 'stop' };

/** Counts exported spans by kind and drops them (no network). */
class CountingExporter implements SpanExporter {
  readonly byKind: Record<string, number> = {};
  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    for (const span of spans) this.byKind[span.kind] = (this.byKind[span.kind] ?? 0) + 1;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

async function newProfiler(): Promise<ProfilerType | undefined> {
  if (variant !== 'profiled') return undefined;
  const { Profiler } = await import('../src/profiler.js');
  // BENCH_ALLOCATION_PROFILING=false: the profiler without allocation profiling (its default is on, Node >= 26).
  const allocationProfiling = process.env.BENCH_ALLOCATION_PROFILING === undefined ? undefined : process.env.BENCH_ALLOCATION_PROFILING !== 'false';
  return new Profiler({ agentSocket, applicationName: `bench-overhead-${mode}`, periodMillis, allocationProfiling });
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Serves the parent's messages one at a time. */
function serve(count: () => number, work: (millis: number) => Promise<unknown>, stop: () => Promise<unknown>): void {
  let queue = Promise.resolve();
  const answer = async (message: Message): Promise<void> => {
    if (message.type === 'usage') process.send?.({ cpuMicros: cpuMicros(), count: count() });
    else if (message.type === 'work') process.send?.(await work(message.millis));
    else {
      process.send?.(await stop());
      process.disconnect();
    }
  };
  process.on('message', (message: Message) => {
    queue = queue.then(() => answer(message));
  });
}

async function runCpu(): Promise<void> {
  const { doWork } = await import('./harness.js');
  const profiler = await newProfiler();
  profiler?.start();
  let units = 0;
  serve(
    () => units,
    async (millis) => {
      const done = await doWork(millis);
      units += done.units;
      return done;
    },
    async () => {
      await profiler?.stop();
      return { stats: profiler?.stats() };
    },
  );
}

let sink = 0;

/** A little CPU per request: build and serialise a small order. */
function buildOrder(id: number): string {
  const lines = [];
  for (let i = 0; i < 40; i++) lines.push({ sku: `sku-${(id * 7 + i) % 997}`, qty: (i % 5) + 1, price: ((id + i) % 100) * 0.99 });
  let checksum = 0;
  for (let i = 0; i < 2000; i++) checksum = (Math.imul(checksum ^ i, 16777619) + id) | 0;
  return JSON.stringify({ id, lines, checksum });
}

async function runHttp(): Promise<void> {
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  const httpInstrumentation = new HttpInstrumentation();
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { trace } = await import('@opentelemetry/api');
  const http = await import('node:http');
  const profiler = await newProfiler();
  const exporter = new CountingExporter();
  const processors: unknown[] = [new BatchSpanProcessor(exporter)];
  if (profiler) processors.unshift(profiler.spanProcessor());
  const sdk = new NodeSDK({
    serviceName: 'bench-http',
    instrumentations: [httpInstrumentation],
    spanProcessors: processors as never,
    metricReaders: [],
    logRecordProcessors: [],
  });
  profiler?.start();
  sdk.start();
  const tracer = trace.getTracer('bench');
  let requests = 0;
  const handle = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const id = requests++;
    const body = await tracer.startActiveSpan('load-order', async (span: { end(): void }) => {
      await new Promise(setImmediate); // stands in for a database round trip
      const order = buildOrder(id);
      await Promise.resolve();
      span.end();
      return order;
    });
    await new Promise(setImmediate);
    sink ^= body.length;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
  };
  const server = http.createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 60_000;
  serve(
    () => requests,
    async () => ({}),
    async () => {
      server.closeAllConnections();
      server.close();
      await sdk.shutdown(); // also stops the profiler (its span processor's shutdown): final upload
      return { stats: profiler?.stats(), spans: exporter.byKind, sink };
    },
  );
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as { port: number }).port }));
}

if (mode === 'cpu') void runCpu().then(() => process.send?.({ ready: true }));
else if (mode === 'http') void runHttp();
else throw new Error(`usage: overhead-child.js cpu|http baseline|profiled (got ${mode} ${variant})`);
