import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type * as httpType from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import type { Profile } from 'pprof-format';
import { Profiler } from '../../src/profiler';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { labelsOf, stackOf, sampleTypesOf } from '../helpers/pprof';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const THRESHOLD = NODE_MAJOR >= 24 ? 0.99 : 0.95;

// Named, top-level functions: what the sampler sees on the stack.
function burnInRequest(ms: number): number {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}
function burnForA(ms: number): number {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 2);
  return x;
}
function burnForB(ms: number): number {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 3);
  return x;
}
function burnOutside(ms: number): number {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 4);
  return x;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

let agent: TestAgent;
let profiler: Profiler;
let sdk: NodeSDK;
let spans: InMemorySpanExporter;
let http: typeof httpType;
let server: httpType.Server;
let port: number;

async function handle(req: httpType.IncomingMessage, res: httpType.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const metadata = getRPCMetadata(context.active());
  if (url.pathname.startsWith('/work/')) {
    if (metadata?.type === RPCType.HTTP) metadata.route = '/work/:id';
    await tick(); // a timer
    await trace.getTracer('test').startActiveSpan('compute', async (span) => {
      burnInRequest(15);
      await Promise.resolve(); // a promise continuation
      const emitter = new EventEmitter();
      emitter.on('work', () => burnInRequest(10)); // an event emitter callback
      await new Promise<void>((resolve) => setImmediate(() => (emitter.emit('work'), resolve())));
      span.end();
    });
  } else {
    // /a and /b interleave: each slice of work is separated by awaits.
    const burn = url.pathname === '/a' ? burnForA : burnForB;
    if (metadata?.type === RPCType.HTTP) metadata.route = url.pathname;
    for (let i = 0; i < 8; i++) {
      burn(4);
      await tick();
    }
  }
  res.end('ok');
}

function get(urlPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

let wall: Profile;
let finished: ReadableSpan[];

before(async () => {
  agent = await startTestAgent();
  profiler = new Profiler({ periodMillis: 60_000, agentSocket: agent.address });
  spans = new InMemorySpanExporter();
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'correlation-test' }),
    spanProcessors: [profiler.spanProcessor(), new SimpleSpanProcessor(spans)],
    instrumentations: [new HttpInstrumentation()],
  });
  sdk.start();
  profiler.start();
  http = await import('node:http'); // after sdk.start(): the instrumentation patches it
  server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  for (let i = 0; i < 25; i++) {
    await get(`/work/${i}`);
    burnOutside(8);
  }
  for (let i = 0; i < 6; i++) await Promise.all([get('/a'), get('/b'), get('/a'), get('/b')]);

  finished = spans.getFinishedSpans().slice();
  server.close();
  await sdk.shutdown(); // stops the profiler: the final upload is made before this resolves
  const [upload] = await agent.waitForUploads(1);
  wall = upload!.profiles['wall.pprof']!;
});

after(async () => {
  await profiler?.stop();
  await agent?.close();
});

interface Attribution {
  samples: number;
  labelled: number;
  right: number;
  wrong: string[];
}

/** Counts the samples (by sample/count) whose stack contains `fn`, and how many carry the right labels. */
function attribution(fn: string, check: (labels: Record<string, string | bigint>) => string | undefined): Attribution {
  const countAt = sampleTypesOf(wall).indexOf('sample/count');
  const result: Attribution = { samples: 0, labelled: 0, right: 0, wrong: [] };
  for (const sample of wall.sample) {
    if (!stackOf(wall, sample.locationId).includes(fn)) continue;
    const n = Number(sample.value[countAt]);
    const labels = labelsOf(wall, sample);
    result.samples += n;
    if (labels['span id'] === undefined) continue;
    result.labelled += n;
    const problem = check(labels);
    if (problem === undefined) result.right += n;
    else result.wrong.push(problem);
  }
  return result;
}

const hex16 = (n: string | bigint): string => BigInt.asUintN(64, BigInt(n)).toString(16).padStart(16, '0');

test('samples of a request carry its span, its local root and its endpoint', (t) => {
  const serverSpans = new Map(finished.filter((s) => s.kind === SpanKind.SERVER).map((s) => [s.spanContext().spanId, s]));
  const computeSpans = new Map(finished.filter((s) => s.name === 'compute').map((s) => [s.spanContext().spanId, s]));
  assert.equal(computeSpans.size, 25);
  const result = attribution('burnInRequest', (labels) => {
    const compute = computeSpans.get(hex16(labels['span id']!));
    if (!compute) return `span id ${hex16(labels['span id']!)} is not a compute span`;
    const root = serverSpans.get(hex16(labels['local root span id']!));
    if (!root || compute.parentSpanContext?.spanId !== root.spanContext().spanId) return 'wrong local root';
    if (labels['trace id'] !== compute.spanContext().traceId) return 'wrong trace id';
    if (labels['trace endpoint'] !== 'GET /work/:id') return `endpoint ${String(labels['trace endpoint'])}`;
    return undefined;
  });
  const precision = result.right / Math.max(result.labelled, 1);
  const recall = result.right / Math.max(result.samples, 1);
  t.diagnostic(`node ${process.version}: burnInRequest samples ${result.samples}, precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)}`);
  assert.ok(result.samples >= 30, `only ${result.samples} samples of burnInRequest`);
  assert.deepEqual(result.wrong.slice(0, 5), []);
  assert.ok(recall >= THRESHOLD, `recall ${recall} < ${THRESHOLD}`);
});

test('no sample taken outside any span carries a span id', () => {
  const result = attribution('burnOutside', () => undefined);
  assert.ok(result.samples >= 10, `only ${result.samples} samples of burnOutside`);
  assert.equal(result.labelled, 0);
});

test('two interleaved requests never get each other\'s span ids', (t) => {
  const byRoute = (route: string): Set<string> =>
    new Set(finished.filter((s) => s.kind === SpanKind.SERVER && s.attributes['http.route'] === route).map((s) => s.spanContext().spanId));
  const [aSpans, bSpans] = [byRoute('/a'), byRoute('/b')];
  assert.equal(aSpans.size, 12);
  assert.equal(bSpans.size, 12);
  for (const [fn, own, endpoint] of [['burnForA', aSpans, 'GET /a'], ['burnForB', bSpans, 'GET /b']] as const) {
    const result = attribution(fn, (labels) => {
      const id = hex16(labels['span id']!);
      if (!own.has(id)) return `${fn} sample carries span ${id} of another request`;
      if (hex16(labels['local root span id']!) !== id) return 'local root is not the server span';
      return labels['trace endpoint'] === endpoint ? undefined : `endpoint ${String(labels['trace endpoint'])}`;
    });
    t.diagnostic(`node ${process.version}: ${fn} samples ${result.samples}, labelled ${result.labelled}, right ${result.right}`);
    assert.ok(result.samples >= 10, `only ${result.samples} samples of ${fn}`);
    assert.deepEqual(result.wrong.slice(0, 5), []);
    assert.ok(result.right / result.samples >= THRESHOLD, `${fn}: recall ${result.right / result.samples} < ${THRESHOLD}`);
  }
});

test('endpoint_counts counts finished local-root server spans per endpoint', async () => {
  const upload = agent.uploads[0]!;
  assert.deepEqual(upload.event.endpoint_counts, { 'GET /work/:id': 25, 'GET /a': 12, 'GET /b': 12 });
});

test('local root spans carry the drill-down attribute: their id as the label\'s decimal number', () => {
  assert.ok(finished.some((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.isRemote), 'server spans have remote parents');
  for (const span of finished) {
    // No parent, or a parent in another process (the server spans here: their parent is the client's span).
    const isRoot = span.parentSpanContext === undefined || span.parentSpanContext.isRemote === true;
    const value = span.attributes['blackfire.profile.local_root_span_id'];
    if (isRoot) assert.equal(value, BigInt('0x' + span.spanContext().spanId).toString());
    else assert.equal(value, undefined);
  }
});

test('the upload is labelled with the SDK resource: application_name from service.name', () => {
  const tags = agent.uploads[0]!.event.tags_profiler;
  assert.match(tags, /(^|,)application_name:correlation-test(,|$)/);
  assert.match(tags, /(^|,)service.name:correlation-test(,|$)/);
});
