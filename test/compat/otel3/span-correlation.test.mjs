// The profiler, packed and installed as a user gets it, with a real OpenTelemetry JS SDK 3.x NodeSDK
// (@opentelemetry/sdk-node 0.301) and its HTTP instrumentation, in an ES module application: the same claims
// as test/otel/span-correlation.test.ts makes with SDK 2.x.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { register } from 'node:module';
import { setImmediate } from 'node:timers';

// An ES module application instruments node:http through the loader hook (what `--import` of a file
// doing this does), and loads everything else after it.
register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
process.env.OTEL_TRACES_EXPORTER = 'none';
process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';

const { context, trace, SpanKind } = await import('@opentelemetry/api');
const { getRPCMetadata, RPCType } = await import('@opentelemetry/core');
const { NodeSDK } = await import('@opentelemetry/sdk-node');
const { resourceFromAttributes } = await import('@opentelemetry/resources');
const { InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace');
const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
const { Profiler, PROFILE_ATTRIBUTE } = await import('blackfire-otel-profiler');
const { startAgent, readUpload, sampleTypesOf, stackOf, labelsOf, hex16 } = await import('./agent.mjs');

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const THRESHOLD = NODE_MAJOR >= 24 ? 0.99 : 0.95;

// Named, top-level functions: what the sampler sees on the stack.
function burnInRequest(ms) {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}
function burnForA(ms) {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 2);
  return x;
}
function burnForB(ms) {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 3);
  return x;
}
function burnOutside(ms) {
  let x = 0;
  for (const end = Date.now() + ms; Date.now() < end; ) x += Math.sqrt(x + 4);
  return x;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

let agent;
let profiler;
let sdk;
let http;
let server;
let port;
let finished;
let uploadsBeforeShutdown;
let uploadsAfterShutdown;
let upload;
let wall;

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const metadata = getRPCMetadata(context.active());
  if (url.pathname.startsWith('/work/')) {
    if (metadata?.type === RPCType.HTTP) metadata.route = '/work/:id';
    await tick(); // a timer
    await trace.getTracer('compat').startActiveSpan('compute', async (span) => {
      burnInRequest(15);
      await Promise.resolve(); // a promise continuation
      const emitter = new EventEmitter();
      emitter.on('work', () => burnInRequest(10)); // an event emitter callback
      await new Promise((resolve) => setImmediate(() => (emitter.emit('work'), resolve())));
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

function get(urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => res.resume().on('end', resolve));
    req.on('error', reject).setTimeout(10_000, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
  });
}

before(async () => {
  agent = await startAgent();
  profiler = new Profiler({ periodMillis: 60_000, agentSocket: agent.address });
  const spans = new InMemorySpanExporter();
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'otel3-compat' }),
    spanProcessors: [profiler.spanProcessor(), new SimpleSpanProcessor({ exporter: spans })],
    instrumentations: [new HttpInstrumentation()],
  });
  sdk.start();
  profiler.start();
  http = await import('node:http'); // after sdk.start(), through the loader hook: the instrumentation patches it
  server = http.createServer((req, res) => void handle(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;

  for (let i = 0; i < 25; i++) {
    await get(`/work/${i}`);
    burnOutside(12);
  }
  for (let i = 0; i < 6; i++) await Promise.all([get('/a'), get('/b'), get('/a'), get('/b')]);

  finished = spans.getFinishedSpans().slice();
  server.close();
  uploadsBeforeShutdown = agent.uploads().length;
  await sdk.shutdown(); // stops the profiler: the final upload is made before this resolves
  uploadsAfterShutdown = agent.uploads();
  if (uploadsAfterShutdown.length > 0) {
    upload = readUpload(uploadsAfterShutdown[0]);
    wall = upload.profiles['wall.pprof'];
  }
});

after(async () => {
  await profiler?.stop();
  await agent?.close();
});

/** Counts the samples (by sample/count) whose stack contains `fn`, and how many carry the right labels. */
function attribution(fn, check) {
  const countAt = sampleTypesOf(wall).indexOf('sample/count');
  const result = { samples: 0, labelled: 0, right: 0, wrong: [] };
  for (const sample of wall.sample) {
    if (!stackOf(wall, sample).includes(fn)) continue;
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

test('await sdk.shutdown() makes the final upload, and it is the only one', async (t) => {
  await agent.printed('upload #1');
  t.diagnostic(`node ${process.version}; agent said: ${agent.output().trim().split('\n').join(' | ')}`);
  assert.equal(uploadsBeforeShutdown, 0, 'an upload came before sdk.shutdown() (period is 60 s)');
  assert.equal(uploadsAfterShutdown.length, 1, 'sdk.shutdown() resolved before the agent had the final upload');
  assert.ok(wall, 'the upload has a wall.pprof');
  assert.ok(upload.profiles['space.pprof'], 'the upload has a space.pprof');
  assert.equal(profiler.isRunning, false);
});

test('the SDK 3.x instrumentation made the spans: HTTP server spans with routes, compute spans under them', () => {
  const server = finished.filter((s) => s.kind === SpanKind.SERVER);
  assert.equal(server.length, 25 + 24);
  assert.equal(finished.filter((s) => s.name === 'compute').length, 25);
  assert.equal(server.filter((s) => s.attributes['http.route'] === '/work/:id').length, 25);
  assert.equal(finished.filter((s) => s.kind === SpanKind.CLIENT).length, 25 + 24, 'client spans of the test requests');
  assert.ok(finished.every((s) => s.resource.attributes['service.name'] === 'otel3-compat'));
});

test('samples of a request carry its span, its local root, its trace and its endpoint', (t) => {
  const serverSpans = new Map(finished.filter((s) => s.kind === SpanKind.SERVER).map((s) => [s.spanContext().spanId, s]));
  const computeSpans = new Map(finished.filter((s) => s.name === 'compute').map((s) => [s.spanContext().spanId, s]));
  assert.equal(computeSpans.size, 25);
  const result = attribution('burnInRequest', (labels) => {
    const compute = computeSpans.get(hex16(labels['span id']));
    if (!compute) return `span id ${hex16(labels['span id'])} is not a compute span`;
    const root = serverSpans.get(hex16(labels['local root span id']));
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

test('no sample taken outside any span carries span labels', (t) => {
  const countAt = sampleTypesOf(wall).indexOf('sample/count');
  let samples = 0;
  for (const sample of wall.sample) {
    if (!stackOf(wall, sample).includes('burnOutside')) continue;
    samples += Number(sample.value[countAt]);
    const labels = labelsOf(wall, sample);
    for (const key of ['span id', 'local root span id', 'trace id', 'trace endpoint']) {
      assert.equal(labels[key], undefined, `a burnOutside sample carries ${key}`);
    }
  }
  t.diagnostic(`node ${process.version}: burnOutside samples ${samples}`);
  assert.ok(samples >= 10, `only ${samples} samples of burnOutside`);
});

test("two interleaved requests never get each other's span ids", (t) => {
  const byRoute = (route) =>
    new Set(finished.filter((s) => s.kind === SpanKind.SERVER && s.attributes['http.route'] === route).map((s) => s.spanContext().spanId));
  const [aSpans, bSpans] = [byRoute('/a'), byRoute('/b')];
  assert.equal(aSpans.size, 12);
  assert.equal(bSpans.size, 12);
  for (const [fn, own, endpoint] of [
    ['burnForA', aSpans, 'GET /a'],
    ['burnForB', bSpans, 'GET /b'],
  ]) {
    const result = attribution(fn, (labels) => {
      const id = hex16(labels['span id']);
      if (!own.has(id)) return `${fn} sample carries span ${id} of another request`;
      if (hex16(labels['local root span id']) !== id) return 'local root is not the server span';
      const traceId = finished.find((s) => s.spanContext().spanId === id).spanContext().traceId;
      if (labels['trace id'] !== traceId) return 'wrong trace id';
      return labels['trace endpoint'] === endpoint ? undefined : `endpoint ${String(labels['trace endpoint'])}`;
    });
    t.diagnostic(`node ${process.version}: ${fn} samples ${result.samples}, labelled ${result.labelled}, right ${result.right}`);
    assert.ok(result.samples >= 10, `only ${result.samples} samples of ${fn}`);
    assert.deepEqual(result.wrong.slice(0, 5), []);
    assert.ok(result.right / result.samples >= THRESHOLD, `${fn}: recall ${result.right / result.samples} < ${THRESHOLD}`);
  }
});

test('endpoint_counts counts finished local-root server spans per endpoint', () => {
  assert.deepEqual(upload.event.endpoint_counts, { 'GET /work/:id': 25, 'GET /a': 12, 'GET /b': 12 });
});

test("local root spans carry the drill-down attribute: their id as the label's decimal number", () => {
  assert.equal(PROFILE_ATTRIBUTE, 'blackfire.profile.local_root_span_id');
  assert.ok(finished.some((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.isRemote), 'server spans have remote parents');
  for (const span of finished) {
    const isRoot = span.parentSpanContext === undefined || span.parentSpanContext.isRemote === true;
    const value = span.attributes[PROFILE_ATTRIBUTE];
    if (isRoot) assert.equal(value, BigInt('0x' + span.spanContext().spanId).toString(), `${span.name}`);
    else assert.equal(value, undefined, `${span.name}`);
  }
});

test('the upload is labelled with the SDK resource: application_name from service.name', () => {
  const tags = upload.event.tags_profiler;
  assert.match(tags, /(^|,)application_name:otel3-compat(,|$)/);
  assert.match(tags, /(^|,)service\.name:otel3-compat(,|$)/);
});
