// The Profiler's lifecycle as an application sees it: start/stop are safe to repeat, one profiler per thread,
// stop() never hangs or throws, and a profiler left running neither keeps the process alive nor loses its
// last period (child-process fixture).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Profiler } from '../src/profiler';
import { heapBindings } from '../src/collect/pprof-bindings';
import { timeSamplingActive } from '../src/collect/time-sampler';
import type { ReceivedUpload } from '../src/agent/upload-check';
import { startTestAgent } from './helpers/agent';
import { totalFor } from './helpers/pprof';
import './helpers/short-periods';

const applicationOf = (upload: ReceivedUpload): string | undefined =>
  /(?:^|,)application_name:([^,]*)/.exec(upload.event.tags_profiler)?.[1];

const periodMillisOf = (upload: ReceivedUpload): number => Date.parse(upload.event.end) - Date.parse(upload.event.start);

test('constructing a Profiler starts nothing: no sampling, no hook, no upload', async () => {
  const agent = await startTestAgent();
  const listeners = process.listenerCount('beforeExit');
  try {
    const idle = new Profiler({ applicationName: 'built-only', agentSocket: agent.address, periodMillis: 200 });
    assert.equal(idle.isRunning, false);
    assert.equal(timeSamplingActive(), false, 'the time profiler must not be started by the constructor');
    assert.throws(() => heapBindings.profile(), /not enabled/, 'the heap profiler must not be started by the constructor');
    assert.equal(process.listenerCount('beforeExit'), listeners);
    await sleep(500); // more than a period: a timer started by the constructor would have rotated by now
    assert.equal(agent.uploads.length, 0);
    assert.equal(idle.stats().periodsCollected, 0);
    // Nor does it claim the thread: another profiler may start.
    const other = new Profiler({ applicationName: 'other', agentSocket: agent.address, periodMillis: 60_000 });
    other.start();
    await other.stop();
    assert.deepEqual(agent.uploads.map(applicationOf), ['other']);
  } finally {
    await agent.close();
  }
});

test('start() twice is a no-op; stop() twice (concurrently, then again) is fine', async () => {
  const agent = await startTestAgent();
  const listeners = process.listenerCount('beforeExit');
  const profiler = new Profiler({ applicationName: 'twice', agentSocket: agent.address, periodMillis: 60_000 });
  try {
    profiler.start();
    await sleep(300);
    profiler.start();
    assert.equal(profiler.isRunning, true);
    assert.equal(timeSamplingActive(), true);
    assert.equal(process.listenerCount('beforeExit'), listeners + 1, 'one beforeExit hook, not one per start()');
    const first = profiler.stop();
    const second = profiler.stop();
    await Promise.all([first, second]);
    await profiler.stop();
    assert.equal(profiler.isRunning, false);
    assert.equal(timeSamplingActive(), false);
    assert.equal(process.listenerCount('beforeExit'), listeners, 'stop() removes the beforeExit hook');
    assert.deepEqual(agent.rejections, []);
    assert.equal(agent.uploads.length, 1, 'one period, one upload, however many stop() calls');
    // The second start() did not restart the period: it still covers the 300 ms before it.
    assert.ok(periodMillisOf(agent.uploads[0]!) >= 290, `the period lasted ${periodMillisOf(agent.uploads[0]!)} ms`);
  } finally {
    await profiler.stop();
    await agent.close();
  }
});

test('start() after stop() works and uploads again, also once the last stop()\'s upload deadline has passed', async () => {
  const agent = await startTestAgent();
  const profiler = new Profiler({ applicationName: 'again', agentSocket: agent.address, periodMillis: 1000, uploadTimeoutMillis: 1000 });
  try {
    profiler.start();
    await sleep(200);
    await profiler.stop();
    assert.equal(agent.uploads.length, 1);
    profiler.start();
    assert.equal(profiler.isRunning, true);
    // Running 1.5 s with a 1 s period: a periodic upload while running (sent after the first stop()'s 1 s
    // upload deadline is over), then the final one.
    await sleep(1500);
    await profiler.stop();
    const stats = profiler.stats();
    assert.deepEqual(agent.rejections, []);
    const context = `${agent.uploads.length} uploads; stats ${JSON.stringify(stats)}`;
    assert.ok(agent.uploads.length >= 3, `expected 1 upload, then >= 1 periodic and the final one (${context})`);
    assert.equal(agent.uploads.length, stats.periodsCollected, `every period is uploaded (${context})`);
    assert.equal(stats.uploadsFailed, 0, context);
    const [first, ...again] = agent.uploads;
    assert.ok(Date.parse(again[0]!.event.start) >= Date.parse(first!.event.end), 'the second run starts after the first ended');
    for (let i = 0; i + 1 < again.length; i++) assert.equal(again[i]!.event.end, again[i + 1]!.event.start);
  } finally {
    await profiler.stop();
    await agent.close();
  }
});

test(
  'stop(), start() at once, then stop(): the second stop() stops the new run too',
  async () => {
    const agent = await startTestAgent();
    const profiler = new Profiler({ applicationName: 'quick-restart', agentSocket: agent.address, periodMillis: 60_000 });
    try {
      profiler.start();
      await sleep(100);
      const first = profiler.stop(); // not awaited: the first run's upload is still on its way
      profiler.start();
      await profiler.stop();
      await first;
      assert.equal(profiler.isRunning, false, 'the awaited stop() left the restarted profiler running');
      assert.equal(timeSamplingActive(), false);
      assert.equal(agent.uploads.length, 2, 'one upload per run');
    } finally {
      await profiler.stop();
      await agent.close();
    }
  },
);

test('flush() uploads the current period at once, and later periods still upload', async () => {
  const agent = await startTestAgent();
  const profiler = new Profiler({ applicationName: 'flushed', agentSocket: agent.address, periodMillis: 1000, uploadTimeoutMillis: 500 });
  try {
    profiler.start();
    await sleep(100);
    await profiler.flush();
    assert.equal(agent.uploads.length, 1, 'flush() resolves once its upload is received');
    // The next period ends ~1 s after start(), after flush()'s 500 ms upload deadline: it must still be sent.
    await sleep(1500);
    const stats = profiler.stats();
    assert.ok(agent.uploads.length >= 2, `expected the period after flush() to be uploaded; stats ${JSON.stringify(stats)}`);
    assert.equal(stats.uploadsFailed, 0);
    assert.equal(agent.uploads[0]!.event.end, agent.uploads[1]!.event.start);
  } finally {
    await profiler.stop();
    await agent.close();
  }
});

test('a second Profiler cannot start while one runs: the error names the running one', async () => {
  const agent = await startTestAgent();
  const first = new Profiler({ applicationName: 'first-app', agentSocket: agent.address, periodMillis: 60_000 });
  const second = new Profiler({ applicationName: 'second-app', agentSocket: agent.address, periodMillis: 60_000 });
  try {
    first.start();
    assert.throws(
      () => second.start(),
      (error: Error) => {
        assert.match(error.message, /"first-app"/);
        assert.match(error.message, /already running/);
        return true;
      },
    );
    assert.equal(second.isRunning, false);
    assert.equal(first.isRunning, true, 'the failed start() leaves the running profiler alone');
    assert.equal(timeSamplingActive(), true);
    await first.stop();
    // Once the first one stopped, the second one may start.
    second.start();
    await second.stop();
    assert.deepEqual(agent.rejections, []);
    assert.deepEqual(agent.uploads.map(applicationOf), ['first-app', 'second-app']);
  } finally {
    await first.stop();
    await second.stop();
    await agent.close();
  }
});

test('stop() with no agent listening resolves within uploadTimeoutMillis + 1 s, without throwing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-no-agent-'));
  const uploadTimeoutMillis = 1500;
  try {
    const profiler = new Profiler({
      applicationName: 'no-agent',
      agentSocket: `unix://${path.join(dir, 'missing', 'agent.sock')}`,
      periodMillis: 60_000,
      uploadTimeoutMillis,
    });
    profiler.start();
    await sleep(100);
    const t0 = Date.now();
    await assert.doesNotReject(profiler.stop());
    const elapsed = Date.now() - t0;
    assert.ok(elapsed <= uploadTimeoutMillis + 1000, `stop() took ${elapsed} ms`);
    assert.equal(profiler.isRunning, false);
    for (let i = 0; i < 20 && profiler.stats().uploadsFailed === 0; i++) await sleep(50);
    assert.equal(profiler.stats().uploadsSucceeded, 0);
    assert.equal(profiler.stats().uploadsFailed, 1, 'the final upload is counted as failed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a process that never calls stop() exits on its own, uploading its last period on the way out', async () => {
  const agent = await startTestAgent();
  try {
    const fixture = path.resolve(__dirname, '../../test/fixtures/never-stops.mjs');
    const env: NodeJS.ProcessEnv = { ...process.env, BLACKFIRE_AGENT_SOCKET: agent.address };
    delete env.NODE_TEST_CONTEXT; // the fixture is a plain program, not a test file
    const t0 = Date.now();
    const child = spawn(process.execPath, [fixture], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // The fixture keeps the default 45 s period: a timer that held the process would keep it well past 20 s.
    let timedOut = false;
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const guard = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, 20_000);
      child.on('exit', (code, signal) => {
        clearTimeout(guard);
        resolve({ code, signal });
      });
    });
    const elapsed = Date.now() - t0;
    assert.equal(timedOut, false, 'the fixture did not exit by itself within 20 s: something keeps the process alive');
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${stderr}`);
    assert.ok(elapsed < 10_000, `the fixture took ${elapsed} ms to exit`);
    assert.equal(stdout, '', 'the profiler must not write to stdout');
    assert.equal(stderr, '', 'the profiler must not write to stderr');
    assert.deepEqual(agent.rejections, []);
    assert.equal(agent.uploads.length, 1, 'the beforeExit hook uploads the last period');
    const [upload] = agent.uploads;
    assert.equal(applicationOf(upload!), 'never-stops');
    assert.ok(totalFor(upload!.profiles['wall.pprof']!, 'cpu/nanoseconds', 'fixtureWork') > 0, 'the fixture\'s work is in the upload');
  } finally {
    await agent.close();
  }
});
