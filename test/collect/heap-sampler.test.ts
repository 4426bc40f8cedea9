// The heap sampler in allocation mode (Node.js >= 26): each period's alloc_* is that period's allocations, and
// inuse_* stays the whole live heap from one period to the next (V8's sampler is not restarted per period).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HeapSampler } from '../../src/collect/heap-sampler';
import { nativeHeapBindings } from '../../src/collect/pprof-bindings';
import { totalFor } from '../helpers/pprof';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const needs26 = NODE_MAJOR >= 26 ? false : `allocation profiling needs Node.js >= 26 (runtime ${process.version})`;
const MiB = 2 ** 20;

// Each of these allocates in its own frame, so the profile can tell them apart.
function keepAliveBlock(list: unknown[]): void {
  for (let i = 0; i < 20_000; i++) list.push({ id: i, payload: new Array(64).fill(i) });
}
function churnBurst(n: number): number {
  let recent: number[][] = [];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    recent.push([i, i + 1, i + 2, i + 3]); // escapes: V8 cannot optimise the allocation away
    if (recent.length === 1000) {
      sum += recent.length;
      recent = [];
    }
  }
  return sum;
}

test('the @datadog/pprof heap internals allocation mode relies on are there', { skip: needs26 }, () => {
  assert.equal(nativeHeapBindings.missing(), undefined, 'pinned @datadog/pprof changed: see src/collect/pprof-bindings.ts');
});

test('allocation mode: inuse_* keeps the objects of earlier periods; alloc_* counts each period on its own', { skip: needs26 }, () => {
  const sampler = new HeapSampler({ heapIntervalBytes: 16 * 1024, heapStackDepth: 64, allocations: true });
  sampler.start();
  try {
    const kept: unknown[] = [];
    keepAliveBlock(kept); // ~11 MB that stay live for the whole test
    const first = sampler.profile();
    churnBurst(2_000_000); // garbage, in the second period only
    const second = sampler.profile();
    const third = sampler.profile();

    const live1 = totalFor(first, 'inuse_space/bytes', 'keepAliveBlock');
    const live3 = totalFor(third, 'inuse_space/bytes', 'keepAliveBlock');
    assert.ok(live1 > 5 * MiB, `the kept block is live in the first profile: ${(live1 / MiB).toFixed(1)} MB`);
    assert.ok(live3 > 0.8 * live1, `still live two periods later: ${(live3 / MiB).toFixed(1)} MB of ${(live1 / MiB).toFixed(1)} (a restarted V8 sampler would show ~0)`);

    const allocKept = [first, second, third].map((p) => totalFor(p, 'alloc_space/bytes', 'keepAliveBlock'));
    assert.ok(allocKept[0]! > 5 * MiB, `allocated in period 1: ${(allocKept[0]! / MiB).toFixed(1)} MB`);
    assert.ok(allocKept[1]! < 0.05 * allocKept[0]! && allocKept[2]! < 0.05 * allocKept[0]!, `not allocated again in periods 2 and 3: ${allocKept.map((b) => (b / MiB).toFixed(2)).join(', ')} MB`);

    const churn = [first, second, third].map((p) => totalFor(p, 'alloc_space/bytes', 'churnBurst'));
    assert.ok(churn[1]! > 20 * MiB, `period 2 allocated the burst: ${(churn[1]! / MiB).toFixed(1)} MB`);
    assert.ok(churn[2]! < 0.05 * churn[1]!, `period 3 did not: ${(churn[2]! / MiB).toFixed(2)} MB`);
    assert.ok(totalFor(second, 'inuse_space/bytes', 'churnBurst') < 1 * MiB, 'the burst is garbage: not in the live heap');
    assert.equal(sampler.restarts, 0);
    kept.length = 0;
  } finally {
    sampler.stop();
  }
});

test('allocation mode: past maxAllocationSamples V8 is restarted (bounded memory), and the next profiles stay consistent', { skip: needs26 }, () => {
  const sampler = new HeapSampler({ heapIntervalBytes: 16 * 1024, heapStackDepth: 64, allocations: true, maxAllocationSamples: 1_000 });
  sampler.start();
  try {
    churnBurst(1_000_000); // ~48 MB: about 3k samples
    sampler.profile();
    assert.equal(sampler.restarts, 1);
    churnBurst(100_000);
    const after = sampler.profile();
    const churn = totalFor(after, 'alloc_space/bytes', 'churnBurst');
    assert.ok(churn > 1 * MiB && churn < 20 * MiB, `after the restart, the period counts its own allocations: ${(churn / MiB).toFixed(1)} MB`);
  } finally {
    sampler.stop();
    sampler.stop();
  }
});
