// The profiler driven by a real NodeSDK 2.x through its span processor: `forceFlush()` uploads now,
// `sdk.shutdown()` stops the profiler with its final upload, and span-labelled samples whether the profiler
// starts before or after `sdk.start()`. NodeSDK registers process-wide globals, so each case runs in a
// fresh child process (test/fixtures/sdk-lifecycle.cjs) that prints its span ids and the profiler's stats.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Profile } from 'pprof-format';
import type { ReceivedUpload } from '../../src/agent/upload-check';
import { startTestAgent } from '../helpers/agent';
import { runNodeFixture } from '../helpers/child';
import { labelsOf, sampleTypesOf, stackOf } from '../helpers/pprof';

const fixture = path.resolve(__dirname, '../../../test/fixtures/sdk-lifecycle.cjs');

interface SpanIds {
  spanId: string;
  traceId: string;
  recording: boolean;
}
interface Stats {
  uploadsSucceeded: number;
  uploadsFailed: number;
  periodsCollected: number;
}
interface FixtureResult {
  first: SpanIds;
  second: SpanIds;
  flushStartedAt: number;
  afterFlush: { at: number; isRunning: boolean; stats: Stats };
  afterShutdown: { at: number; isRunning: boolean; stats: Stats };
  atEnd: Stats;
}

async function runFixture(args: string[], agentAddress: string): Promise<FixtureResult> {
  const { exit, stdout, stderr } = await runNodeFixture([fixture, ...args], agentAddress);
  assert.deepEqual(exit, { code: 0, signal: null }, `fixture ${args.join(' ')} failed; stderr: ${stderr}`);
  return JSON.parse(stdout) as FixtureResult;
}

/** Samples (by sample/count) whose stack holds `fn`, and how many of them carry `span`'s labels. */
function samplesOf(wall: Profile, fn: string, span: SpanIds): { samples: number; labelled: number; wrong: string[] } {
  const countAt = sampleTypesOf(wall).indexOf('sample/count');
  const spanIdNum = BigInt('0x' + span.spanId);
  const result = { samples: 0, labelled: 0, wrong: [] as string[] };
  for (const sample of wall.sample) {
    if (!stackOf(wall, sample.locationId).includes(fn)) continue;
    const n = Number(sample.value[countAt]);
    result.samples += n;
    const labels = labelsOf(wall, sample);
    if (labels['span id'] === undefined) continue;
    if (labels['span id'] === spanIdNum && labels['local root span id'] === spanIdNum && labels['trace id'] === span.traceId) result.labelled += n;
    else result.wrong.push(JSON.stringify(labels, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)));
  }
  return result;
}

function assertSpanSamples(upload: ReceivedUpload, fn: string, span: SpanIds, order: string): void {
  const wall = upload.profiles['wall.pprof']!;
  const found = samplesOf(wall, fn, span);
  assert.ok(found.samples >= 10, `${order}: only ${found.samples} samples of ${fn}`);
  assert.deepEqual(found.wrong.slice(0, 3), [], `${order}: ${fn} samples with another span's labels`);
  // Node 20 hands spans over through async_hooks, Node >= 24 through AsyncContextFrame: the same result here.
  assert.ok(found.labelled / found.samples >= 0.9, `${order}: ${found.labelled} of ${found.samples} ${fn} samples carry the span`);
}

for (const [order, flushVia] of [
  ['profiler-first', 'provider'],
  ['sdk-first', 'processor'],
] as const) {
  test(`${order}: forceFlush (${flushVia}) uploads now; sdk.shutdown() stops the profiler with the final upload; samples carry their spans`, async () => {
    const agent = await startTestAgent();
    try {
      const result = await runFixture([order, flushVia], agent.address);
      assert.equal(result.first.recording, true);

      // forceFlush: the period so far was uploaded (acknowledged by the agent) before forceFlush() resolved.
      assert.equal(result.afterFlush.isRunning, true, 'forceFlush does not stop the profiler');
      assert.equal(result.afterFlush.stats.uploadsSucceeded, 1);
      // sdk.shutdown(): the final upload was made before it resolved, and the profiler is stopped.
      assert.equal(result.afterShutdown.isRunning, false);
      assert.equal(result.afterShutdown.stats.uploadsSucceeded, 2);
      assert.equal(result.atEnd.uploadsSucceeded, 2, 'profiler.stop() after sdk.shutdown() uploads nothing more');
      assert.equal(result.atEnd.uploadsFailed, 0);

      // Nothing more on exit (the beforeExit hook went with the stop).
      assert.deepEqual(agent.rejections, []);
      assert.equal(agent.uploads.length, 2);
      const [flushed, final] = agent.uploads as [ReceivedUpload, ReceivedUpload];
      assert.ok(Date.parse(flushed.event.end) >= result.flushStartedAt - 5, 'the flushed period ends at the flush');
      assert.ok(Date.parse(flushed.event.end) <= result.afterFlush.at + 5);
      assert.ok(Date.parse(final.event.start) >= Date.parse(flushed.event.end), 'the final period starts where the flushed one ended');
      assert.ok(Date.parse(final.event.end) <= result.afterShutdown.at + 5);
      for (const upload of [flushed, final]) assert.match(upload.event.tags_profiler, /(^|,)application_name:sdk-lifecycle(,|$)/);

      assertSpanSamples(flushed, 'burnBeforeFlush', result.first, order);
      assertSpanSamples(final, 'burnAfterFlush', result.second, order);
      // Each period holds its own work only.
      assert.equal(samplesOf(flushed.profiles['wall.pprof']!, 'burnAfterFlush', result.second).samples, 0);
      assert.equal(samplesOf(final.profiles['wall.pprof']!, 'burnBeforeFlush', result.first).samples, 0);
    } finally {
      await agent.close();
    }
  });
}
