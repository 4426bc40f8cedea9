import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { UploadQueue } from '../../src/export/upload-queue';

type Drop = [droppedNow: number, droppedTotal: number, reason: string];

/** A promise with its resolve function, to hold a send until the test releases it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * The queue's timers are unref()ed and a held send is only a promise: without a ref'ed handle, the test's
 * event loop would run dry while it waits. Returns the function that lets go of it.
 */
function keepAlive(): () => void {
  const timer = setInterval(() => {}, 1_000);
  return () => clearInterval(timer);
}

test('at most one send in flight; items go out in push order', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const sent: number[] = [];
  const queue = new UploadQueue<number>({
    maxPending: 10,
    send: async (item) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(2);
      sent.push(item);
      inFlight--;
    },
    onDrop: () => assert.fail('nothing should be dropped'),
  });
  for (let i = 1; i <= 5; i++) queue.push(i);
  assert.equal(queue.size, 5);
  await queue.drain(Date.now() + 5_000);
  assert.deepEqual(sent, [1, 2, 3, 4, 5]);
  assert.equal(maxInFlight, 1);
  assert.equal(queue.size, 0);
  assert.equal(queue.dropped, 0);
  // Items pushed one at a time, each after the previous send ended, still go out one at a time.
  queue.push(6);
  await queue.drain(Date.now() + 5_000);
  assert.deepEqual(sent, [1, 2, 3, 4, 5, 6]);
  assert.equal(maxInFlight, 1);
});

test('bounded backlog: the oldest waiting item is dropped first, and each drop is counted', async () => {
  const hold = gate();
  const sent: string[] = [];
  const drops: Drop[] = [];
  const queue = new UploadQueue<string>({
    maxPending: 2,
    send: async (item) => {
      sent.push(item);
      await hold.promise;
    },
    onDrop: (...drop) => drops.push(drop),
  });
  queue.push('a'); // sent at once, held
  queue.push('b');
  queue.push('c');
  assert.deepEqual(drops, []);
  queue.push('d'); // backlog b, c, d: b goes
  queue.push('e'); // backlog c, d, e: c goes
  assert.deepEqual(drops, [
    [1, 1, 'backlog full'],
    [1, 2, 'backlog full'],
  ]);
  assert.equal(queue.dropped, 2);
  assert.equal(queue.size, 3); // a in flight, d and e waiting
  hold.open();
  await queue.drain(Date.now() + 5_000);
  assert.deepEqual(sent, ['a', 'd', 'e']);
  assert.equal(queue.dropped, 2);
});

test('drain(deadline) resolves by the deadline when a send hangs, and drops and counts what was left', async () => {
  const hold = gate();
  const drops: Drop[] = [];
  const queue = new UploadQueue<string>({
    maxPending: 4,
    send: () => hold.promise,
    onDrop: (...drop) => drops.push(drop),
  });
  queue.push('stuck');
  queue.push('x');
  queue.push('y');
  const release = keepAlive();
  const start = Date.now();
  await queue.drain(start + 150);
  release();
  const elapsed = Date.now() - start;
  assert.ok(elapsed >= 140, `drain returned before its deadline (${elapsed} ms)`);
  assert.ok(elapsed < 1_000, `drain took ${elapsed} ms for a 150 ms deadline`);
  assert.deepEqual(drops, [[2, 2, 'stop deadline']]);
  assert.equal(queue.dropped, 2);
  hold.open();
});

test('drain with nothing queued resolves at once', async () => {
  const queue = new UploadQueue<string>({ maxPending: 4, send: async () => {}, onDrop: () => assert.fail('nothing to drop') });
  const start = Date.now();
  await queue.drain(start + 10_000);
  assert.ok(Date.now() - start < 100);
});

test('drain resolves as soon as the queue is empty, not at the deadline; what waits is sent under the deadline', async () => {
  const deadlines: number[] = [];
  const queue = new UploadQueue<string>({
    maxPending: 4,
    send: async (_item, deadlineMillis) => {
      deadlines.push(deadlineMillis);
      await sleep(20);
    },
    onDrop: () => assert.fail('nothing should be dropped'),
  });
  queue.push('a');
  queue.push('b');
  const start = Date.now();
  const deadline = start + 10_000;
  await queue.drain(deadline);
  assert.ok(Date.now() - start < 2_000, `drain waited ${Date.now() - start} ms`);
  // 'a' was already on its way when drain began; 'b' is sent under the drain's deadline.
  assert.deepEqual(deadlines, [Infinity, deadline]);
  assert.equal(queue.size, 0);
});

test('drain with a deadline already past drops what waits without waiting', async () => {
  const hold = gate();
  const drops: Drop[] = [];
  const queue = new UploadQueue<string>({ maxPending: 4, send: () => hold.promise, onDrop: (...d) => drops.push(d) });
  queue.push('a');
  queue.push('b');
  const start = Date.now();
  await queue.drain(start - 1);
  assert.ok(Date.now() - start < 50);
  assert.deepEqual(drops, [[1, 1, 'stop deadline']]);
  hold.open();
});

test(
  'after a drain, later items are sent without the old drain deadline',
  async () => {
    const deadlines: number[] = [];
    const queue = new UploadQueue<string>({
      maxPending: 4,
      send: async (_item, deadlineMillis) => {
        deadlines.push(deadlineMillis);
      },
      onDrop: () => {},
    });
    queue.push('before');
    await queue.drain(Date.now() + 1_000);
    queue.push('after');
    await queue.drain(Date.now() + 1_000);
    assert.deepEqual(deadlines, [Infinity, Infinity], 'the item pushed after drain() was sent with the old drain deadline');
  },
);
