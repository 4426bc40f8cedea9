import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../../src/profiler';
import { timeBindings } from '../../src/collect/pprof-bindings';

const setGlobalOnPrototype = Object.getPrototypeOf(context).setGlobalContextManager;
const agentSocket = 'unix:///nonexistent/blackfire-context-hook-test.sock';

test('the hand-off is installed on a context manager registered after start(), and fully removed by stop()', async () => {
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 200, agentSocket });
  profiler.start();
  assert.notEqual(context.setGlobalContextManager, setGlobalOnPrototype, 'start() watches for a context manager');
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  assert.ok(Object.hasOwn(manager, 'with'), 'with() is wrapped on the registered manager');

  const span = new BasicTracerProvider().getTracer('t').startSpan('s');
  const seen = context.with(trace.setSpan(ROOT_CONTEXT, span), () => timeBindings.getContext());
  assert.ok(seen !== undefined && 'traceId' in seen, 'the sampler sees the span inside with()');
  assert.equal((seen as { traceId: string }).traceId, span.spanContext().traceId);
  span.end();

  await profiler.stop();
  assert.equal(context.setGlobalContextManager, setGlobalOnPrototype, 'the API method is restored');
  assert.equal(Object.hasOwn(manager, 'with'), false, 'the manager has its own with() again');
  assert.equal(Object.getOwnPropertySymbols(manager).length, 0, 'no marker left on the manager');
  // After stop, with() still works as before, and nothing calls into the stopped sampler.
  assert.equal(context.with(trace.setSpan(ROOT_CONTEXT, span), () => 42), 42);
  context.disable();
});
