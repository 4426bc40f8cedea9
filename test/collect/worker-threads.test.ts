// worker_threads: the main thread's Profiler profiles the workers too (each samples itself and sends its
// profile over a BroadcastChannel), every sample labelled `thread id` and `thread name`; workers coming and
// going; spans inside workers; workerThreads: false; a Profiler started inside a worker on its own.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { Profiler } from '../../src/profiler';
import { FileExporter } from '../../src/export/file/file-exporter';
import { loadProfiles, topFunctions, topLabels, type LoadedProfile } from '../../src/inspect/profile-query';
import { labelsOf } from '../helpers/pprof';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-workers-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A worker's code: burns CPU in a function of its own name, then reports its own CPU time and exits. */
const BURNER = `
const { parentPort, threadId, workerData } = require('node:worker_threads');
const start = process.threadCpuUsage ? process.threadCpuUsage() : undefined;
// A function declared with the name asked for, so that the sampler sees that name.
const burn = new Function('millis', 'return function ' + workerData.fn + '() { let x = 0; const end = Date.now() + millis; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }')(workerData.sliceMillis);
let left = workerData.slices;
(function next() {
  burn();
  if (--left > 0) return setImmediate(next);
  const used = start && process.threadCpuUsage(start);
  parentPort.postMessage({ threadId, cpuMicros: used ? used.user + used.system : undefined });
})();
`;

/** Loads the worker_threads module after start(), as code that creates workers later does. */
function workers(): typeof import('node:worker_threads') {
  return createRequire(__filename)('node:worker_threads') as typeof import('node:worker_threads');
}

function runWorker(name: string | undefined, data: Record<string, unknown>): Promise<{ threadId: number; cpuMicros?: number }> {
  const worker = new (workers().Worker)(BURNER, { eval: true, workerData: data, ...(name ? { name } : {}) });
  return new Promise((resolve, reject) => {
    let report: { threadId: number; cpuMicros?: number } | undefined;
    worker.on('message', (m) => (report = m));
    worker.on('error', reject);
    worker.on('exit', () => (report ? resolve(report) : reject(new Error('no report'))));
  });
}

/** CPU ns per thread id, and the names, from the wall.pprof files of `dir`; and the functions of each thread. */
function perThread(dir: string): Map<string, { name: string; cpuNanos: number; functions: Map<string, number> }> {
  const threads = new Map<string, { name: string; cpuNanos: number; functions: Map<string, number> }>();
  for (const { file, profile } of loadProfiles([dir]) as LoadedProfile[]) {
    if (!file.endsWith('wall.pprof')) continue;
    const strings = profile.stringTable.strings;
    const cpu = profile.sampleType.findIndex((t) => strings[Number(t.type)] === 'cpu');
    const functions = new Map(profile.function.map((f) => [Number(f.id), strings[Number(f.name)]!]));
    const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
    for (const sample of profile.sample) {
      const labels = labelsOf(profile, sample);
      const id = String(labels['thread id']);
      const entry = threads.get(id) ?? { name: String(labels['thread name']), cpuNanos: 0, functions: new Map() };
      const value = Number(sample.value[cpu]);
      entry.cpuNanos += value;
      const leaf = functions.get(Number(locations.get(Number(sample.locationId[0]))?.line[0]?.functionId)) ?? '?';
      entry.functions.set(leaf, (entry.functions.get(leaf) ?? 0) + value);
      threads.set(id, entry);
    }
  }
  return threads;
}

test('4 named workers burning CPU: one upload, each sample labelled with its thread; per-thread CPU within 10% of the thread\'s own', async (t) => {
  const dir = path.join(tmp, 'four');
  const profiler = new Profiler({ applicationName: 'workers', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  profiler.start();
  const reports = await Promise.all([1, 2, 3, 4].map((i) => runWorker(`pool-${i}`, { fn: `burnInPoolWorker${i}`, slices: 25, sliceMillis: 20 })));
  await profiler.stop();
  const threads = perThread(dir);
  assert.equal(threads.get('0')?.name, 'Main');
  for (const [i, report] of reports.entries()) {
    const thread = threads.get(String(report.threadId));
    assert.ok(thread, `thread ${report.threadId} is in the upload (${[...threads.keys()].join(', ')})`);
    assert.equal(thread.name, `pool-${i + 1}`, 'the Worker\'s name option');
    const top = [...thread.functions].sort((a, b) => b[1] - a[1])[0]![0];
    assert.equal(top, `burnInPoolWorker${i + 1}`, `the worker's own function heads its samples`);
    if (report.cpuMicros === undefined) continue; // Node 20: no per-thread CPU clock in JS (process.threadCpuUsage)
    const ratio = thread.cpuNanos / (report.cpuMicros * 1000);
    t.diagnostic(`pool-${i + 1} (thread ${report.threadId}): profile cpu ${(thread.cpuNanos / 1e6).toFixed(1)} ms, threadCpuUsage ${(report.cpuMicros / 1000).toFixed(1)} ms, ratio ${ratio.toFixed(3)}`);
    assert.ok(Math.abs(ratio - 1) <= 0.1, `pool-${i + 1}: ${ratio.toFixed(3)}`);
  }
  // top, convert and the view filter and group by thread (id or name).
  const profiles = loadProfiles([dir]);
  const only = topFunctions(profiles, 'cpu', { thread: String(reports[1]!.threadId) }, 3);
  assert.equal(only.rows[0]?.name, 'burnInPoolWorker2');
  assert.ok(!only.rows.some((r) => /burnInPoolWorker[134]/.test(r.name)));
  const byThread = topLabels(profiles, 'cpu', 'thread', {}, 10).rows.map((r) => r.name).sort();
  assert.deepEqual(byThread, ['Main', ...reports.map((_, i) => `pool-${i + 1}`)].sort());
});

test('workers coming and going: 50 in a row, each exiting mid-period, all in the upload; no growth in RSS or handles', async (t) => {
  const dir = path.join(tmp, 'churn');
  const profiler = new Profiler({ applicationName: 'churn', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  profiler.start();
  await runWorker(undefined, { fn: 'warmUp', slices: 1, sliceMillis: 5 }); // the first worker's one-time costs
  const resourcesBefore = process.getActiveResourcesInfo().length;
  const rssBefore = process.memoryUsage().rss;
  const ids: number[] = [];
  for (let i = 0; i < 50; i++) ids.push((await runWorker(undefined, { fn: `shortLived${i}`, slices: 3, sliceMillis: 10 })).threadId);
  const rssAfter = process.memoryUsage().rss;
  const resourcesAfter = process.getActiveResourcesInfo().length;
  await profiler.stop();
  const threads = perThread(dir);
  const seen = ids.filter((id) => threads.has(String(id)));
  t.diagnostic(`50 workers: ${seen.length} in the upload; RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MB; active resources ${resourcesBefore} -> ${resourcesAfter}`);
  assert.ok(seen.length >= 45, `workers that exited mid-period still count: ${seen.length} of 50`);
  assert.ok(rssAfter - rssBefore < 64 * 2 ** 20, `RSS grew ${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MB over 50 workers`);
  assert.ok(resourcesAfter <= resourcesBefore + 1, `active resources ${resourcesBefore} -> ${resourcesAfter}`);
});

test('workerThreads: false: the workers are not profiled, only the main thread', async () => {
  const dir = path.join(tmp, 'off');
  const profiler = new Profiler({ applicationName: 'off', periodMillis: 60_000, workerThreads: false, exporters: [new FileExporter({ dir })] });
  profiler.start();
  await runWorker('pool-x', { fn: 'notProfiled', slices: 10, sliceMillis: 10 });
  await profiler.stop();
  assert.deepEqual([...perThread(dir).keys()], ['0']);
});

test('spans inside a worker with its own OpenTelemetry setup: its samples carry the span ids and its thread', async () => {
  const dir = path.join(tmp, 'spans');
  const profiler = new Profiler({ applicationName: 'spans', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  profiler.start();
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { context, trace, SpanKind, ROOT_CONTEXT } = require(workerData.api);
    const { AsyncLocalStorageContextManager } = require(workerData.cm);
    const { BasicTracerProvider } = require(workerData.sdk);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    setTimeout(() => {
      const tracer = new BasicTracerProvider().getTracer('w');
      const span = tracer.startSpan('GET /w', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/w' } });
      context.with(trace.setSpan(ROOT_CONTEXT, span), function burnInWorkerSpan() { let x = 0; const end = Date.now() + 300; while (Date.now() < end) x += Math.sqrt(x + 1); });
      span.end();
      parentPort.postMessage(span.spanContext());
    }, 50);`;
  const worker = new (workers().Worker)(code, {
    eval: true,
    workerData: { api: require.resolve('@opentelemetry/api'), cm: require.resolve('@opentelemetry/context-async-hooks'), sdk: require.resolve('@opentelemetry/sdk-trace-base') },
  });
  const threadId = worker.threadId;
  const spanContext = await new Promise<{ spanId: string; traceId: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await new Promise((resolve) => worker.once('exit', resolve));
  await profiler.stop();
  const spanNum = BigInt('0x' + spanContext.spanId);
  let inSpan = 0;
  for (const { file, profile } of loadProfiles([dir])) {
    if (!file.endsWith('wall.pprof')) continue;
    for (const sample of profile.sample) {
      const labels = labelsOf(profile, sample);
      if (labels['trace id'] !== spanContext.traceId) continue;
      assert.equal(BigInt.asUintN(64, BigInt(labels['span id'] as bigint)), spanNum);
      assert.equal(labels['thread id'], String(threadId));
      assert.equal(labels['trace endpoint'], 'GET /w');
      inSpan++;
    }
  }
  assert.ok(inSpan > 0, 'samples of the worker span');
});

test('a Profiler started inside a worker, with none in the main thread: it profiles that worker, labelled as such', async () => {
  const dir = path.join(tmp, 'inside');
  const code = `
    const { parentPort, workerData, threadId } = require('node:worker_threads');
    const { Profiler, FileExporter } = require(workerData.index);
    const profiler = new Profiler({ applicationName: 'inside', periodMillis: 60000, exporters: [new FileExporter({ dir: workerData.dir })] });
    profiler.start();
    (function burnInsideWorker() { let x = 0; const end = Date.now() + 300; while (Date.now() < end) x += Math.sqrt(x + 1); })();
    profiler.stop().then(() => parentPort.postMessage(threadId));`;
  const worker = new (workers().Worker)(code, { eval: true, workerData: { index: path.resolve(__dirname, '..', '..', 'src', 'index.js'), dir } });
  const threadId = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const threads = perThread(dir);
  assert.deepEqual([...threads.keys()], [String(threadId)]);
  assert.ok(threads.get(String(threadId))!.functions.has('burnInsideWorker'));
});
