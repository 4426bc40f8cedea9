// The fault matrix: for each way an agent can misbehave, a profiler with a short period runs for many periods
// against it. Nothing may reach the application, every upload ends within its timeout, the backlog stays
// bounded, diag says each kind of failure once, and once the agent behaves, uploads resume with the newest period.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { Profiler } from '../../src/profiler';
import type { BlackfireExporter } from '../../src/export/blackfire/blackfire-exporter';
import type { UploadQueue } from '../../src/export/upload-queue';
import { FAULT_MODES, startFaultAgent } from '../helpers/fault-agent';
import '../helpers/short-periods';

const PERIOD_MILLIS = 200;
const UPLOAD_TIMEOUT_MILLIS = 300;
const MAX_PENDING = 2;
const PERIODS = 6;
const MiB = 2 ** 20;

const appFaults: unknown[] = [];
const onFault = (error: unknown): void => {
  appFaults.push(error);
};
process.on('unhandledRejection', onFault);
process.on('uncaughtException', onFault);
after(() => {
  process.off('unhandledRejection', onFault);
  process.off('uncaughtException', onFault);
});

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

const rows: string[] = [];
after(() => {
  // The fault table (for the closing note): one row per mode.
  process.stdout.write(['', '# fault matrix', 'mode | uploads tried | max upload ms | rss MB before→after | heap MB before→after | diag warn/error lines | stop() ms | recovered', ...rows, ''].join('\n'));
});

for (const mode of FAULT_MODES) {
  test(`agent ${mode}: nothing reaches the app, each upload ends within its timeout, bounded backlog, one diag line per kind, recovery`, async () => {
    const resourcesBefore = resourceCounts();
    const agent = await startFaultAgent(mode);
    const lines: Array<{ level: string; text: string }> = [];
    const record = (level: string) => (namespace: unknown, ...args: unknown[]): void => {
      if (namespace === 'blackfire-otel-profiler') lines.push({ level, text: args.join(' ') });
    };
    diag.setLogger({ error: record('error'), warn: record('warn'), info: record('info'), debug: record('debug'), verbose: record('verbose') }, DiagLogLevel.ALL);
    const faultsBefore = appFaults.length;
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const profiler = new Profiler({
      applicationName: `fault-${mode}`,
      periodMillis: PERIOD_MILLIS,
      uploadTimeoutMillis: UPLOAD_TIMEOUT_MILLIS,
      maxPendingUploads: MAX_PENDING,
      agentSocket: agent.address,
    });
    const internals = (profiler as unknown as { sinks: Array<{ exporter: BlackfireExporter; queue: UploadQueue<unknown> }> }).sinks[0]!;
    const exportMillis: number[] = [];
    const exportOnce = internals.exporter.export.bind(internals.exporter);
    internals.exporter.export = async (...args) => {
      const t0 = Date.now();
      try {
        return await exportOnce(...args);
      } finally {
        exportMillis.push(Date.now() - t0);
      }
    };
    let maxQueue = 0;
    const poll = setInterval(() => (maxQueue = Math.max(maxQueue, internals.queue.size)), 10);
    let stopMillis = NaN;
    try {
      profiler.start();
      await sleep(PERIODS * PERIOD_MILLIS + 50);
      const faultLines = lines.filter((l) => l.level === 'warn' || l.level === 'error');

      // Recovery: the agent behaves again; uploads resume by themselves.
      await agent.setMode('ok');
      const recoveredBy = Date.now() + 3_000;
      while (!agent.arrivals.some((a) => a.mode === 'ok') && Date.now() < recoveredBy) await sleep(20);
      const okBeforeStop = agent.arrivals.filter((a) => a.mode === 'ok').length;
      const t0 = Date.now();
      await profiler.stop();
      stopMillis = Date.now() - t0;
      const okAfterStop = agent.arrivals.filter((a) => a.mode === 'ok').length;

      assert.deepEqual(appFaults.slice(faultsBefore), [], 'no exception or unhandled rejection reached the application');
      assert.ok(exportMillis.length > 0, 'uploads were tried');
      const slowest = Math.max(...exportMillis);
      assert.ok(slowest <= UPLOAD_TIMEOUT_MILLIS + 50, `every upload ends within its timeout + 50 ms: slowest ${slowest} ms`);
      assert.ok(maxQueue <= MAX_PENDING + 1, `bounded backlog: at most ${MAX_PENDING} waiting + 1 in flight, saw ${maxQueue}`);
      const kinds = new Set(faultLines.map((l) => l.text.replace(/\d+/g, '#')));
      assert.ok(faultLines.length <= 3, `diag: one line per kind of failure, not one per period: ${JSON.stringify(faultLines)}`);
      assert.ok(kinds.size === faultLines.length, 'no line repeated');
      assert.ok(okBeforeStop >= 1, 'uploads resumed by themselves once the agent behaved');
      assert.ok(okAfterStop > okBeforeStop, "stop() delivered the newest (final) period");
      assert.ok(stopMillis <= UPLOAD_TIMEOUT_MILLIS + 50, `stop() took ${stopMillis} ms`);
      if (mode === 'http-429-retry-after') {
        const during = agent.requests.get(mode) ?? 0;
        // Retry-After: 1 over ~1.25 s of periods: one request, perhaps two; never one per period or per backoff.
        assert.ok(during <= 2, `Retry-After honoured: ${during} requests in ${PERIODS} periods`);
      }
      const dropped = profiler.stats().periodsDropped;
      rows.push(
        `${mode} | ${exportMillis.length} | ${slowest} | ${(rssBefore / MiB).toFixed(0)}→${(process.memoryUsage().rss / MiB).toFixed(0)} | ` +
          `${(heapBefore / MiB).toFixed(1)}→${(process.memoryUsage().heapUsed / MiB).toFixed(1)} | ${faultLines.length} | ${stopMillis} | yes (dropped ${dropped})`,
      );
    } finally {
      clearInterval(poll);
      await profiler.stop();
      diag.disable();
      await agent.close();
    }
    // After stop(): nothing of ours is left running (the agent's own handles are closed too by now).
    await sleep(100);
    const left: string[] = [];
    for (const [kind, n] of resourceCounts()) if (n > (resourcesBefore.get(kind) ?? 0)) left.push(`${kind} x${n - (resourcesBefore.get(kind) ?? 0)}`);
    assert.deepEqual(left, [], 'no handle of ours is left 100 ms after stop()');
  });
}
