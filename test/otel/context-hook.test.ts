import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { context, trace, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../../src/profiler';
import { sampleContextNow } from '../../src/collect/time-sampler';
import { isAsyncContextFrameActive } from '../../src/collect/pprof-bindings';

const setGlobalOnPrototype = Object.getPrototypeOf(context).setGlobalContextManager;
const agentSocket = 'unix:///nonexistent/blackfire-context-hook-test.sock';
const STORE_MODE = isAsyncContextFrameActive();

function newSpan(name: string) {
  return new BasicTracerProvider().getTracer('t').startSpan(name);
}

test('the hand-off is installed on a context manager registered after start(); stop() leaves contexts intact and the sampler untouched', async () => {
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 200, agentSocket });
  profiler.start();
  assert.notEqual(context.setGlobalContextManager, setGlobalOnPrototype, 'start() watches for a context manager');
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  assert.ok(Object.hasOwn(manager, 'with'), 'with() is taken over on the registered manager');
  assert.equal(profiler.stats().spanHandOff, STORE_MODE ? 'context-store' : 'async-hooks');

  const span = newSpan('s');
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  assert.equal(context.with(ctx, () => sampleContextNow()), span, 'the sampler sees the span inside with()');
  assert.equal(context.with(ctx, () => context.active()), ctx, 'active() is the very context entered');
  // A continuation that starts while profiling and resumes after stop() keeps its context.
  let resume!: () => void;
  const later = context.with(ctx, async () => {
    await new Promise<void>((resolve) => (resume = resolve));
    return { active: context.active(), sampled: sampleContextNow() };
  });

  await profiler.stop();
  assert.equal(context.setGlobalContextManager, setGlobalOnPrototype, 'the API method is restored');
  resume();
  const after = await later;
  assert.equal(after.active, ctx, 'the continuation still sees its context after stop()');
  // After stop, with() works as before and nothing reaches the stopped sampler.
  const other = trace.setSpan(ROOT_CONTEXT, newSpan('t'));
  assert.equal(context.with(other, () => context.active()), other);
  assert.equal(context.with(other, () => sampleContextNow()), undefined, 'no holder is made for a context entered after stop()');
  assert.equal(profiler.stats().liveContextHolders, undefined);

  // The manager's own disable() (sdk.shutdown() -> context.disable()) removes every trace of the hand-off.
  context.disable();
  for (const name of ['with', 'active', 'attach', 'disable']) assert.equal(Object.hasOwn(manager, name), false, `own ${name}() removed`);
  assert.equal(Object.getOwnPropertySymbols(manager).length, 0, 'no marker left on the manager');
  span.end();
});

test('bind() of functions and event emitters, attach(), and contexts entered before start() all follow the right span', { skip: STORE_MODE ? false : 'context store: AsyncContextFrame only' }, async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const before = trace.setSpan(ROOT_CONTEXT, newSpan('before'));
  // Entered before the profiler takes the manager over: still the active context after, through its own storage.
  let resumeBefore!: () => void;
  const beforeLater = context.with(before, async () => {
    await new Promise<void>((resolve) => (resumeBefore = resolve));
    return context.active();
  });
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 200, agentSocket });
  profiler.start();
  try {
    resumeBefore();
    assert.equal(await beforeLater, before);
    const spanA = newSpan('a');
    const spanB = newSpan('b');
    const ctxA = trace.setSpan(ROOT_CONTEXT, spanA);
    const ctxB = trace.setSpan(ROOT_CONTEXT, spanB);
    const seen = (): [Context, unknown] => [context.active(), sampleContextNow()];
    assert.deepEqual(context.bind(ctxA, seen)(), [ctxA, spanA], 'a bound function');
    const emitter = context.bind(ctxB, new EventEmitter());
    let fromEmitter: [Context, unknown] | undefined;
    emitter.on('x', () => (fromEmitter = seen()));
    context.with(ctxA, () => emitter.emit('x'));
    assert.deepEqual(fromEmitter, [ctxB, spanB], 'a bound event emitter runs its listeners in its own context');
    const attach = (manager as unknown as { attach?(ctx: Context): { dispose(): void } }).attach;
    if (typeof attach === 'function') {
      const token = attach.call(manager, ctxB);
      assert.deepEqual(seen(), [ctxB, spanB], 'attach()');
      token.dispose();
      assert.notEqual(context.active(), ctxB, 'dispose() restores the previous context');
    }
    assert.deepEqual(context.with(ROOT_CONTEXT, seen), [ROOT_CONTEXT, undefined], 'no span: no sample context');
    spanA.end();
    spanB.end();
  } finally {
    await profiler.stop();
    context.disable();
  }
});
