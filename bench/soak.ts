// The long run: the OTel HTTP service of bench/compare (NodeSDK, HTTP instrumentation, a child span per request)
// with our profiler uploading every 2 s to the stand-in agent, under a steady open-loop load from this process,
// on loopback. Every minute: RSS, heap after a full GC, the longest event-loop delay, uploads. At the end, the
// slopes fitted after the warm-up (least squares, MB per 10 min). Goal: RSS under +1 MB per 10 min.
// Usage: node build/bench/soak.js [--minutes=30] [--warmup-minutes=2] [--rate=200] [--sample-seconds=60]
//        [--max-heap-growth-mb=N]   (exit 1 if heap after GC grew more than N MB from the end of the warm-up: the
//                                     bounded CI version, a memory bound and not a timing bound)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import * as http from 'node:http';
import * as path from 'node:path';
import { printTable, startBenchAgent } from './harness';

const arg = (name: string, fallback: number): number => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const MINUTES = arg('minutes', 30);
const WARMUP_MINUTES = arg('warmup-minutes', Math.min(2, MINUTES / 4));
const RATE = arg('rate', 200);
const SAMPLE_SECONDS = arg('sample-seconds', MINUTES <= 5 ? 15 : 60);
const MAX_HEAP_GROWTH_MB = process.argv.some((a) => a.startsWith('--max-heap-growth-mb=')) ? arg('max-heap-growth-mb', Infinity) : undefined;
const MiB = 2 ** 20;

interface Sample { minute: number; rssMB: number; heapMB: number; loopMaxMillis: number; uploads: number; failed: number; holders: number | undefined }

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxy / sxx;
}

async function main(): Promise<void> {
  const agent = await startBenchAgent();
  const child = fork(path.join(__dirname, 'compare-child.js'), ['ours'], {
    env: { ...process.env, BENCH_AGENT_SOCKET: agent.address, BENCH_PERIOD_MILLIS: '2000' },
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  const ask = async <T>(type: string): Promise<T> => {
    child.send({ type });
    const [reply] = (await once(child, 'message')) as [T];
    return reply;
  };
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let sent = 0;
  let failed = 0;
  const endMillis = Date.now() + MINUTES * 60_000;
  const load = setInterval(() => {
    if (Date.now() >= endMillis) return;
    sent++;
    http.get({ host: '127.0.0.1', port, path: '/order', agent: keepAlive }, (res) => res.resume()).on('error', () => failed++);
  }, 1000 / RATE);
  const samples: Sample[] = [];
  const t0 = Date.now();
  process.stdout.write(`# bench/soak: ${MINUTES} min at ${RATE} req/s, period 2 s, node ${process.version}; a line every ${SAMPLE_SECONDS} s\n`);
  while (Date.now() < endMillis) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(SAMPLE_SECONDS * 1000, endMillis - Date.now())));
    const reply = await ask<{ heapUsedBytes: number; rssBytes: number; eventLoopMaxMillis: number; stats?: { uploadsSucceeded: number; uploadsFailed: number; liveContextHolders?: number } }>('heap');
    const sample: Sample = {
      minute: (Date.now() - t0) / 60_000,
      rssMB: reply.rssBytes / MiB,
      heapMB: reply.heapUsedBytes / MiB,
      loopMaxMillis: reply.eventLoopMaxMillis,
      uploads: reply.stats?.uploadsSucceeded ?? 0,
      failed: reply.stats?.uploadsFailed ?? 0,
      holders: reply.stats?.liveContextHolders,
    };
    samples.push(sample);
    process.stdout.write(`minute ${sample.minute.toFixed(1)}: rss ${sample.rssMB.toFixed(1)} MB, heap after GC ${sample.heapMB.toFixed(1)} MB, event-loop max ${sample.loopMaxMillis.toFixed(1)} ms, uploads ${sample.uploads} ok / ${sample.failed} failed\n`);
  }
  clearInterval(load);
  keepAlive.destroy();
  child.send({ type: 'stop' });
  await once(child, 'exit');
  await agent.close();
  const steady = samples.filter((s) => s.minute >= WARMUP_MINUTES);
  const rssSlope = slope(steady.map((s) => [s.minute, s.rssMB])) * 10;
  const heapSlope = slope(steady.map((s) => [s.minute, s.heapMB])) * 10;
  printTable(
    ['minute', 'RSS MB', 'heap after GC MB', 'event-loop max ms', 'uploads ok', 'failed', 'live holders'],
    samples.map((s) => [s.minute.toFixed(1), s.rssMB.toFixed(1), s.heapMB.toFixed(1), s.loopMaxMillis.toFixed(1), String(s.uploads), String(s.failed), String(s.holders ?? '-')]),
  );
  process.stdout.write(`\nrequests sent ${sent}, failed ${failed}; agent accepted ${agent.uploads.length} uploads\n`);
  process.stdout.write(`after the first ${WARMUP_MINUTES} min (${steady.length} samples): RSS ${rssSlope.toFixed(2)} MB per 10 min, heap after GC ${heapSlope.toFixed(2)} MB per 10 min (goal: RSS under +1)\n`);
  if (MAX_HEAP_GROWTH_MB !== undefined && steady.length >= 2) {
    const growth = steady.at(-1)!.heapMB - steady[0]!.heapMB;
    process.stdout.write(`heap after GC grew ${growth.toFixed(2)} MB since the warm-up (bound ${MAX_HEAP_GROWTH_MB} MB)\n`);
    if (growth > MAX_HEAP_GROWTH_MB || failed > 0 || samples.at(-1)!.failed > 0) process.exitCode = 1;
  }
}

void main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exitCode = 1;
});
