// A CommonJS application (require() of the profiler's CJS build and of SDK 3.x's CJS builds), started with
// SDK 3.x's `startNodeSdk()` after the profiler: run as a child process against the CLI's agent stand-in.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startAgent, readUpload, sampleTypesOf, stackOf, labelsOf, hex16 } from './agent.mjs';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const THRESHOLD = NODE_MAJOR >= 24 ? 0.99 : 0.95;
const APP = fileURLToPath(new URL('./fixtures/cjs-app.cjs', import.meta.url));
const SERVER = 1; // SpanKind.SERVER
const CLIENT = 2; // SpanKind.CLIENT

let agent;
let report;
let uploads;
let all;

before(async () => {
  agent = await startAgent();
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, [APP, agent.address], { timeout: 60_000, maxBuffer: 16 << 20 }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
  report = JSON.parse(stdout.trim().split('\n').pop());
  uploads = agent.uploads(); // read right after the app exited: its sdk.shutdown() had to wait for the upload
  all = uploads.map(readUpload);
});

after(async () => {
  await agent?.close();
});

test("forceFlush() of the SDK's tracer provider uploads now; the profiler keeps running", () => {
  assert.equal(report.afterFlush.isRunning, true);
  assert.equal(report.afterFlush.stats.uploadsSucceeded, 1);
});

test('sdk.shutdown() of startNodeSdk() made the final upload: two in all, labelled with the SDK resource', () => {
  assert.equal(report.profilerRunning, false);
  assert.equal(report.stats.uploadsSucceeded, 2);
  assert.equal(report.stats.uploadsFailed, 0);
  assert.equal(uploads.length, 2);
  for (const upload of all) assert.match(upload.event.tags_profiler, /(^|,)application_name:otel3-cjs(,|$)/);
  assert.deepEqual(all.map((upload) => upload.event.endpoint_counts), [{ 'GET /orders/:id': 10 }, { 'GET /orders/:id': 10 }]);
});

test("the profiler's uploads are kept out of the traces (suppressTracing with core 3.x and the HTTP instrumentation 0.301)", () => {
  const kinds = report.finished.map((s) => s.kind);
  assert.equal(kinds.filter((k) => k === SERVER).length, 20);
  assert.equal(kinds.filter((k) => k === CLIENT).length, 20, 'a client span more than the 20 requests: an upload was traced');
  assert.equal(report.finished.length, 40);
});

test('samples of each request carry its server span, trace and endpoint; samples outside carry none', (t) => {
  const serverSpans = new Map(report.finished.filter((s) => s.kind === SERVER).map((s) => [s.spanId, s]));
  assert.equal(serverSpans.size, 20);
  let inside = 0;
  let right = 0;
  let outside = 0;
  const wrong = [];
  for (const wall of all.map((upload) => upload.profiles['wall.pprof'])) {
    const countAt = sampleTypesOf(wall).indexOf('sample/count');
    for (const sample of wall.sample) {
      const stack = stackOf(wall, sample);
      const n = Number(sample.value[countAt]);
      const labels = labelsOf(wall, sample);
      if (stack.includes('burnOutsideCjs')) {
        outside += n;
        assert.equal(labels['span id'], undefined, 'a sample outside any span carries a span id');
        assert.equal(labels['trace id'], undefined, 'a sample outside any span carries a trace id');
      }
      if (!stack.includes('burnInCjsRequest')) continue;
      inside += n;
      if (labels['span id'] === undefined) continue;
      const span = serverSpans.get(hex16(labels['span id']));
      if (!span) wrong.push(`span id ${hex16(labels['span id'])} is no server span`);
      else if (hex16(labels['local root span id']) !== span.spanId) wrong.push('wrong local root');
      else if (labels['trace id'] !== span.traceId) wrong.push('wrong trace id');
      else if (labels['trace endpoint'] !== 'GET /orders/:id') wrong.push(`endpoint ${labels['trace endpoint']}`);
      else right += n;
    }
  }
  t.diagnostic(`node ${process.version}: burnInCjsRequest samples ${inside}, right ${right}; burnOutsideCjs samples ${outside}`);
  assert.ok(inside >= 20, `only ${inside} samples of burnInCjsRequest`);
  assert.ok(outside >= 10, `only ${outside} samples of burnOutsideCjs`);
  assert.deepEqual(wrong.slice(0, 5), []);
  assert.ok(right / inside >= THRESHOLD, `recall ${right / inside} < ${THRESHOLD}`);
});
