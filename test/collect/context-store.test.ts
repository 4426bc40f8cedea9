// The context store: the sampler reads the span from the same AsyncLocalStorage the context manager keeps its
// contexts in. What it relies on below @datadog/pprof's public API, the lifetime of its context holders, their
// number under churn, and the public-API fallback when those internals are absent.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { Profile } from 'pprof-format';
import { Profiler } from '../../src/profiler';
import { isAsyncContextFrameActive, nativeTimeBindings } from '../../src/collect/pprof-bindings';
import { sampleContextNow } from '../../src/collect/time-sampler';
import { startTestAgent } from '../helpers/agent';
import { runNodeFixture } from '../helpers/child';
import { labelsOf, sampleTypesOf, stackOf } from '../helpers/pprof';

const ACF = isAsyncContextFrameActive();
const needsAcf = ACF ? false : 'needs AsyncContextFrame (Node >= 24, or 22 with --experimental-async-context-frame)';
const fixture = path.resolve(__dirname, '../../../test/fixtures/holder-lifetime.cjs');
const gc = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

test('the @datadog/pprof internals the context store relies on are there (else it falls back to the public API)', () => {
  const missing = nativeTimeBindings.missing();
  assert.equal(
    missing,
    undefined,
    `@datadog/pprof changed below its public API: ${missing}. The span hand-off falls back to time.runWithContext ` +
      '(a second AsyncLocalStorage.run and a new holder per switch). Check TimeProfiler (bindings/profilers/wall.cc) and ' +
      'serializeTimeProfile (ts/src/profile-serializer.ts) of the new version, then update src/collect/pprof-bindings.ts.',
  );
});

test('holders outlive the native profiler that made them: a restart with another configuration reads them safely', { skip: needsAcf }, async () => {
  const agent = await startTestAgent();
  try {
    const { exit, stdout, stderr } = await runNodeFixture(['--expose-gc', fixture], agent.address);
    assert.deepEqual(exit, { code: 0, signal: null }, `the fixture crashed or failed (a holder read after its profiler was freed?); stderr: ${stderr}`);
    const result = JSON.parse(stdout) as { oldSpanIds: string[]; handOff: string; second: { uploadsSucceeded: number } };
    assert.equal(result.handOff, 'context-store');
    const uploads = await agent.waitForUploads(2);
    const second = uploads.find((u) => u.event.info.application.service === 'holders-second')!;
    const wall = second.profiles['wall.pprof'] as Profile;
    const countAt = sampleTypesOf(wall).indexOf('sample/count');
    const old = new Set(result.oldSpanIds.map((id) => BigInt('0x' + id)));
    let inOld = 0;
    let labelledOld = 0;
    for (const sample of wall.sample) {
      if (!stackOf(wall, sample.locationId).includes('burnInOldContext')) continue;
      const n = Number(sample.value[countAt]);
      inOld += n;
      const spanId = labelsOf(wall, sample)['span id'];
      if (typeof spanId === 'bigint' && old.has(spanId)) labelledOld += n;
    }
    assert.ok(inOld >= 20, `the second profiler sampled the old contexts' work (${inOld} samples)`);
    assert.ok(labelledOld / inOld >= 0.95, `samples in old contexts carry their span, read from the first profiler's holders: ${labelledOld}/${inOld}`);
  } finally {
    await agent.close();
  }
});

test('holders do not pile up: 100k spans, each activated in a new context, leave a flat holder count', { skip: needsAcf }, async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 200, agentSocket: 'unix:///nonexistent/bf-churn.sock' });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
  profiler.start();
  try {
    const counts: number[] = [];
    const heap: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25_000; i++) {
        const span = tracer.startSpan('GET /x');
        context.with(trace.setSpan(ROOT_CONTEXT, span), () => 0);
        span.end();
      }
      // Two full GCs: objects freed by weak callbacks of the first (native handles) go in the second. With one,
      // Node 26 shows a transient of up to ~18 MB after the first 25k spans that later rounds give back.
      gc();
      gc();
      counts.push(profiler.stats().liveContextHolders ?? NaN);
      heap.push(process.memoryUsage().heapUsed);
    }
    assert.ok(counts.every((n) => n < 100), `live holders after each 25k spans (after GC): ${counts.join(', ')}`);
    assert.ok(heap[3]! - heap[0]! < 8 * 2 ** 20, `heap after GC grew ${((heap[3]! - heap[0]!) / 2 ** 20).toFixed(1)} MB over 75k spans`);
  } finally {
    await profiler.stop();
    context.disable();
  }
});

test('without the internals, the public API hand-off (time.runWithContext) still ties samples to spans', { skip: needsAcf }, async (t) => {
  t.mock.method(nativeTimeBindings, 'missing', () => 'stubbed out by the test');
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const agent = await startTestAgent();
  const profiler = new Profiler({ applicationName: 'fallback', periodMillis: 60_000, agentSocket: agent.address });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
  try {
    assert.equal(profiler.stats().spanHandOff, 'run-with-context');
    profiler.start();
    const span = tracer.startSpan('fallback-span');
    const burnInFallbackSpan = (millis: number): number => {
      let x = 0;
      for (const end = Date.now() + millis; Date.now() < end; ) x += Math.sqrt(x + 1);
      return x;
    };
    await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
      assert.equal(sampleContextNow(), span);
      burnInFallbackSpan(150);
      await new Promise(setImmediate);
      burnInFallbackSpan(150);
    });
    span.end();
    await profiler.stop();
    const [upload] = await agent.waitForUploads(1);
    assert.equal(upload!.event.info.profiler.settings.span_context_handoff, 'run-with-context', 'the upload says which hand-off ran');
    const wall = upload!.profiles['wall.pprof'] as Profile;
    const countAt = sampleTypesOf(wall).indexOf('sample/count');
    let inSpan = 0;
    let labelled = 0;
    for (const sample of wall.sample) {
      if (!stackOf(wall, sample.locationId).includes('burnInFallbackSpan')) continue;
      inSpan += Number(sample.value[countAt]);
      if (labelsOf(wall, sample)['span id'] === BigInt('0x' + span.spanContext().spanId)) labelled += Number(sample.value[countAt]);
    }
    assert.ok(inSpan >= 15 && labelled / inSpan >= 0.95, `${labelled}/${inSpan} samples labelled`);
  } finally {
    await profiler.stop();
    await agent.close();
    context.disable();
  }
});
