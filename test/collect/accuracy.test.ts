// Real sampling accuracy: each test runs one Profiler from start() to stop() around a workload whose truth
// is known by construction, and reads the numbers back from what the stand-in agent received. The period is
// long (60 s), so the only upload is the final one, sent by stop().
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Profiler } from '../../src/profiler';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { sampleTypesOf, stackOf, total, totalFor } from '../helpers/pprof';
import type { Profile } from 'pprof-format';

const SECOND = 1e9;
const MIB = 1024 * 1024;

/** Runs `workload` between start() and stop() of a fresh Profiler; returns the one upload's profiles. */
async function profileAround(
  applicationName: string,
  options: { heapIntervalBytes?: number },
  workload: () => void,
): Promise<{ wall: Profile; space: Profile }> {
  const agent: TestAgent = await startTestAgent();
  try {
    const profiler = new Profiler({ applicationName, agentSocket: agent.address, periodMillis: 60_000, ...options });
    profiler.start();
    workload();
    await profiler.stop();
    const [upload] = await agent.waitForUploads(1, 10_000);
    assert.deepEqual(agent.rejections, []);
    assert.equal(agent.uploads.length, 1, 'only the final upload is expected with a 60 s period');
    return { wall: upload!.profiles['wall.pprof']!, space: upload!.profiles['space.pprof']! };
  } finally {
    await agent.close();
  }
}

// --- CPU shares ---------------------------------------------------------------------------------------------

/**
 * CPU time of the process, in microseconds. While the workload runs, the other threads are nearly idle (it
 * allocates little, so GC helpers barely run; the upload comes after), so this is the main thread's time. Not
 * `process.threadCpuUsage()` (Node >= 23.9): on Linux it moves in uneven steps of up to ~3 ms, which made
 * every short slice overshoot and skewed the ratio to 74/26.
 */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

let sink = 0;

// burnA and burnB run until they have used `cpuMillis` of CPU time: the 3:1 ratio holds by construction in CPU
// time, the very thing measured, whatever the machine's load and whatever tier of V8's JIT runs each one (a
// ratio of work units drifted to 79/21 on a busy machine: the same loop does not always cost the same). They
// are top-level declarations called from a function that runs once (so is never optimized and inlines
// nothing): each keeps its own frame, and its name, in every sample.
function burnA(cpuMillis: number): void {
  const until = cpuMicros() + cpuMillis * 1000;
  let x = sink | 1;
  while (cpuMicros() < until) {
    for (let i = 0; i < 400_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  }
  sink ^= x;
}

function burnB(cpuMillis: number): void {
  const until = cpuMicros() + cpuMillis * 1000;
  let x = sink | 1;
  while (cpuMicros() < until) {
    for (let i = 0; i < 400_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  }
  sink ^= x;
}

/**
 * About 2 s of CPU, 3 ms to burnA for 1 ms to burnB, interleaved. The slice lengths are random (A: 30-90 ms,
 * B: 10-30 ms) so that they never line up with the 10 ms sampling interval: with fixed slices whose cycle is a
 * multiple of the interval (15 ms + 5 ms = 2 intervals), every cycle would put its samples at the same phase,
 * and the measured shares would be 100/0 or 50/50 depending on luck. With random slices each boundary costs at
 * most one sample of error, independently: ~25 cycles give a standard error near 1 point.
 * burnA and burnB must not run before the profiler starts: V8 would compile their loops on-stack (OSR) then,
 * and V8's CPU profiler does not learn of OSR code compiled before it started, so their samples would go to
 * the caller (seen in 3 runs out of 8 here).
 */
function burnThreeToOne(): { cpuA: number; cpuB: number } {
  let cpuA = 0;
  let cpuB = 0;
  for (let round = 0; round < 1000 && cpuA + cpuB < 2_000_000; round++) {
    const millis = 10 + Math.random() * 20;
    const t0 = cpuMicros();
    burnA(3 * millis);
    const t1 = cpuMicros();
    burnB(millis);
    cpuA += t1 - t0;
    cpuB += cpuMicros() - t1;
  }
  return { cpuA, cpuB };
}

/** The heaviest stacks by CPU, for a failure message. */
function describeTop(profile: Profile): string {
  const index = sampleTypesOf(profile).indexOf('cpu/nanoseconds');
  const byStack = new Map<string, number>();
  for (const sample of profile.sample) {
    const key = stackOf(profile, sample.locationId).slice(0, 4).join(' < ');
    byStack.set(key, (byStack.get(key) ?? 0) + Number(sample.value[index]));
  }
  return [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${(v / SECOND).toFixed(3)} s ${k}`).join('; ');
}

test('CPU time of two functions burning in a 3:1 ratio is within 5 points of 75/25', async (t) => {
  let truth = { cpuA: 0, cpuB: 0 };
  const { wall } = await profileAround('accuracy-cpu', {}, () => {
    truth = burnThreeToOne();
  });
  const trueShareA = (100 * truth.cpuA) / (truth.cpuA + truth.cpuB);
  assert.ok(Math.abs(trueShareA - 75) < 1, `the workload itself is not 3:1 in CPU time (${trueShareA.toFixed(1)}/${(100 - trueShareA).toFixed(1)})`);
  const cpuA = totalFor(wall, 'cpu/nanoseconds', 'burnA');
  const cpuB = totalFor(wall, 'cpu/nanoseconds', 'burnB');
  const shareA = (100 * cpuA) / (cpuA + cpuB);
  const observed = `burnA ${(cpuA / SECOND).toFixed(3)} s, burnB ${(cpuB / SECOND).toFixed(3)} s of CPU: ${shareA.toFixed(1)}/${(100 - shareA).toFixed(1)} (true ${trueShareA.toFixed(1)}/${(100 - trueShareA).toFixed(1)})`;
  t.diagnostic(observed);
  const context = `${observed}; heaviest stacks: ${describeTop(wall)}`;
  // Nearly all the CPU of the period is the two functions': a profiler that lost their names, or most of
  // their samples, fails here rather than passing on a ratio of a few samples.
  const cpuAll = total(wall, 'cpu/nanoseconds');
  assert.ok(cpuA + cpuB >= 0.5 * SECOND, `too little CPU attributed to burnA/burnB (${context})`);
  assert.ok(cpuA + cpuB >= 0.8 * cpuAll, `burnA/burnB have under 80% of the ${(cpuAll / SECOND).toFixed(3)} s of CPU sampled (${context})`);
  assert.ok(Math.abs(shareA - 75) <= 5, `expected 75/25 within 5 points, got ${context}`);
});

// --- Wall time without CPU ------------------------------------------------------------------------------------

/** Blocks the thread 1 s without using CPU (a synchronous wait: an `await` would take it off the stack). */
function blockOneSecond(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

test('a function blocked 1 s without CPU shows ~1 s of wall time and nearly no CPU', async (t) => {
  let blockedMillis = 0;
  const { wall } = await profileAround('accuracy-wall', {}, () => {
    const t0 = performance.now();
    blockOneSecond();
    blockedMillis = performance.now() - t0;
  });
  const wallSeconds = totalFor(wall, 'wall/nanoseconds', 'blockOneSecond') / SECOND;
  const cpuSeconds = totalFor(wall, 'cpu/nanoseconds', 'blockOneSecond') / SECOND;
  const observed = `wall ${wallSeconds.toFixed(3)} s, cpu ${cpuSeconds.toFixed(3)} s (blocked ${blockedMillis.toFixed(0)} ms)`;
  t.diagnostic(observed);
  assert.ok(wallSeconds >= 0.8 && wallSeconds <= 1.3, `expected 0.8-1.3 s of wall time, got ${observed}`);
  assert.ok(cpuSeconds < 0.1, `expected < 0.1 s of CPU, got ${observed}`);
});

// --- Live heap ------------------------------------------------------------------------------------------------

/** A full GC, without needing `--expose-gc` on the command line (node --test starts this file's process). */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const RETAINED_CHUNKS = 28_000;
const CHUNK_LENGTH = 128;
let retained: number[][] | undefined;

/**
 * Keeps ~30 MB alive, in many small objects allocated here: 28,000 arrays of 128 small integers. Each is a
 * JSArray (32 bytes) and its backing FixedArray (16 + 128 x 8 bytes) on a 64-bit heap without pointer
 * compression (Node's default), 1,072 bytes in all; with the holder's 224 KB that is ~30.2 MB. Every array is
 * created at its final size (no growth, so no garbage from here).
 */
function retainThirtyMegabytes(): number[][] {
  const chunks: number[][] = new Array<number[]>(RETAINED_CHUNKS);
  for (let i = 0; i < RETAINED_CHUNKS; i++) chunks[i] = new Array<number>(CHUNK_LENGTH).fill(i & 0xff);
  return chunks;
}

test('30 MB retained by one function shows as its inuse_space within 25%', async (t) => {
  // The heap sampler takes one sample per `heapIntervalBytes` allocated on average (a Poisson process), and
  // V8 scales each sample back up. With the default 512 KiB interval, 30 MB is only ~57 samples: a relative
  // standard error of ~13%, and a 25% band would fail about once in 20 runs. At 32 KiB, ~920 samples give a
  // standard error of ~3.3%, so 25% is over 7 standard errors: a sound test, which a profiler off by more than
  // a quarter (e.g. unscaled samples, or samples of dead objects kept) still fails.
  const heapIntervalBytes = 32 * 1024;
  let trueBytes = 0;
  try {
    const { space } = await profileAround('accuracy-heap', { heapIntervalBytes }, () => {
      // The truth: how much the live heap grew across the allocation, measured after full GCs (so only what is
      // still referenced counts). It should match the layout computed above to within a few percent.
      collectGarbage();
      const before = process.memoryUsage().heapUsed;
      retained = retainThirtyMegabytes();
      collectGarbage();
      trueBytes = process.memoryUsage().heapUsed - before;
    });
    const computed = RETAINED_CHUNKS * (32 + 16 + 8 * CHUNK_LENGTH) + 16 + 8 * RETAINED_CHUNKS;
    assert.ok(
      Math.abs(trueBytes - computed) / computed < 0.1,
      `heapUsed grew by ${(trueBytes / MIB).toFixed(1)} MiB, far from the ${(computed / MIB).toFixed(1)} MiB computed: the truth is unreliable here`,
    );
    const inuse = totalFor(space, 'inuse_space/bytes', 'retainThirtyMegabytes');
    const ratio = inuse / trueBytes;
    const observed = `inuse_space ${(inuse / MIB).toFixed(2)} MiB for ${(trueBytes / MIB).toFixed(2)} MiB retained (ratio ${ratio.toFixed(3)})`;
    t.diagnostic(observed);
    assert.ok(ratio >= 0.75 && ratio <= 1.25, `expected inuse_space within 25% of the truth, got ${observed}`);
    if (Number(process.versions.node.split('.')[0]) >= 26) {
      // Allocation profiling: everything this function allocated is still alive, so alloc_space ~ inuse_space.
      assert.ok(sampleTypesOf(space).includes('alloc_space/bytes'));
      const allocated = totalFor(space, 'alloc_space/bytes', 'retainThirtyMegabytes');
      const allocRatio = allocated / trueBytes;
      t.diagnostic(`alloc_space ${(allocated / MIB).toFixed(2)} MiB (ratio ${allocRatio.toFixed(3)})`);
      assert.ok(
        allocRatio >= 0.75 && allocRatio <= 1.25,
        `expected alloc_space within 25% of the truth, got ${(allocated / MIB).toFixed(2)} MiB (ratio ${allocRatio.toFixed(3)})`,
      );
    }
    assert.equal(retained?.length, RETAINED_CHUNKS, 'the chunks must stay referenced until after stop()');
  } finally {
    retained = undefined;
  }
});
