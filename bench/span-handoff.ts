// Cost of handing the active span to the sampler, per context switch and per await, against a no-profiler
// baseline in the same process: NodeSDK 2.x registers its AsyncLocalStorageContextManager; the profiled rounds
// start the profiler (which wraps the manager's with()) and stop it again, so baseline and profiled alternate.
//   switch: context.with(ctxA, fn) then context.with(ctxB, fn), two recording spans: every call is a real switch.
//   await:  200k `await Promise.resolve()` inside one active span (Node 20/22: the async_hooks before/after
//           hook runs per callback; Node >= 24: AsyncContextFrame carries the context for free).
//   span:   a span's whole life: startSpan, one with(), end (a local root); with the profiler's span processor,
//           and zero-code (a second Profiler whose span processor is not registered: spans are first seen in with()).
// Usage: node build/bench/span-handoff.js [--scale=N]
import { performance } from 'node:perf_hooks';
import { context, ROOT_CONTEXT, SpanKind, trace, type Context, type Tracer } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { Profiler } from '../src/profiler';
import { timeBindings } from '../src/collect/pprof-bindings';
import { benchScale, fmt, median, printRuntime, printTable, ratioRow, RATIO_HEADER, roundOrder, startBenchAgent, type BenchAgent } from './harness';

const SWITCHES = 1_000_000;
const AWAITS = 200_000;
const SPANS = 100_000;
const HOOKED = Symbol.for('blackfire-otel-profiler.context-hook');
const API_GLOBALS = Symbol.for('opentelemetry.js.api.1');

const one = (): number => 1;

function nsPerSwitch(ctxA: Context, ctxB: Context): number {
  const start = performance.now();
  let acc = 0;
  for (let i = 0; i < SWITCHES; i += 2) {
    acc += context.with(ctxA, one);
    acc += context.with(ctxB, one);
  }
  if (acc !== SWITCHES) throw new Error('lost calls');
  return ((performance.now() - start) * 1e6) / SWITCHES;
}

/** with() of the span that is already active (instrumentations do it all the time): no switch. */
function nsPerSameSpanWith(ctxA: Context): number {
  return context.with(ctxA, () => {
    const start = performance.now();
    let acc = 0;
    for (let i = 0; i < SWITCHES; i++) acc += context.with(ctxA, one);
    if (acc !== SWITCHES) throw new Error('lost calls');
    return ((performance.now() - start) * 1e6) / SWITCHES;
  });
}

async function awaits(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

async function nsPerAwait(ctx: Context): Promise<number> {
  const start = performance.now();
  await context.with(ctx, () => awaits(AWAITS));
  return ((performance.now() - start) * 1e6) / AWAITS;
}

function nsPerSpan(tracer: Tracer): number {
  const start = performance.now();
  for (let i = 0; i < SPANS; i++) {
    const span = tracer.startSpan('GET /orders/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/orders/:id' } });
    context.with(trace.setSpan(ROOT_CONTEXT, span), one);
    span.end();
  }
  return ((performance.now() - start) * 1e6) / SPANS;
}

function hookInstalled(): boolean {
  const manager = (globalThis as Record<symbol, { context?: object } | undefined>)[API_GLOBALS]?.context;
  return manager !== undefined && HOOKED in manager;
}

/** What the sampler would attach to a sample taken inside `ctx`, synchronously and after an await. */
async function sampledSpanIds(ctx: Context): Promise<string> {
  const spanIdOf = (): string => String((timeBindings.getContext() as { spanIdNum?: bigint } | undefined)?.spanIdNum ?? 'none');
  return context.with(ctx, async () => {
    const sync = spanIdOf();
    await new Promise(setImmediate);
    return `${sync}/${spanIdOf()}`;
  });
}

async function main(): Promise<void> {
  const rounds = Math.max(3, Math.round(7 * benchScale()));
  printRuntime('bench/span-handoff: span hand-off cost per context switch and per await');
  const agent: BenchAgent = await startBenchAgent();
  const profiler = new Profiler({ agentSocket: agent.address, applicationName: 'bench-span-handoff', periodMillis: 60_000 });
  const sdk = new NodeSDK({ serviceName: 'bench-span-handoff', spanProcessors: [profiler.spanProcessor() as never], metricReaders: [], logRecordProcessors: [] });
  sdk.start();
  const zeroCode = new Profiler({ agentSocket: agent.address, applicationName: 'bench-span-handoff-zero-code', periodMillis: 60_000 });
  const tracer = trace.getTracer('bench');
  const spanA = tracer.startSpan('a');
  const spanB = tracer.startSpan('b');
  const ctxA = trace.setSpan(context.active(), spanA);
  const ctxB = trace.setSpan(context.active(), spanB);
  const results = { switchBase: [] as number[], switchProf: [] as number[], sameBase: [] as number[], sameProf: [] as number[], awaitBase: [] as number[], awaitProf: [] as number[], spanBase: [] as number[], spanProf: [] as number[], spanZero: [] as number[] };
  let check = '';
  try {
    for (let round = -1; round < rounds; round++) {
      for (const profiled of roundOrder(Math.max(round, 0), false, true)) {
        if (profiled) profiler.start();
        if (profiled !== hookInstalled()) throw new Error(`hook installed: ${hookInstalled()}, profiler running: ${profiled}`);
        const perSwitch = nsPerSwitch(ctxA, ctxB);
        const perSame = nsPerSameSpanWith(ctxA);
        const perAwait = await nsPerAwait(ctxA);
        const perSpan = nsPerSpan(tracer);
        if (profiled && round === 0) check = await sampledSpanIds(ctxA);
        if (profiled) await profiler.stop();
        if (round < 0) continue; // warm-up round
        (profiled ? results.switchProf : results.switchBase).push(perSwitch);
        (profiled ? results.sameProf : results.sameBase).push(perSame);
        (profiled ? results.awaitProf : results.awaitBase).push(perAwait);
        (profiled ? results.spanProf : results.spanBase).push(perSpan);
      }
      zeroCode.start();
      const perSpanZero = nsPerSpan(tracer);
      await zeroCode.stop();
      if (round >= 0) results.spanZero.push(perSpanZero);
    }
  } finally {
    spanA.end();
    spanB.end();
    await sdk.shutdown();
    await agent.close();
  }
  const expected = BigInt('0x' + spanA.spanContext().spanId).toString();
  console.log(`${rounds} rounds (+1 warm-up), baseline and profiled alternating, then zero-code; ${SWITCHES} switches and ${AWAITS} awaits, ${SPANS} spans per measure`);
  console.log(`sampler context inside span a (sync/after an await): ${check}; expected ${expected}/${expected}: ${check === `${expected}/${expected}` ? 'ok' : 'MISMATCH'}`);
  console.log(`uploads accepted by the agent: ${agent.uploads.length} (one per profiled or zero-code round's stop())`);
  console.log('');
  printTable(RATIO_HEADER, [
    ratioRow('ns per context.with() switch', results.switchBase, results.switchProf, 1),
    ratioRow('ns per with() of the active span (no switch)', results.sameBase, results.sameProf, 1),
    ratioRow('ns per await in an active span', results.awaitBase, results.awaitProf, 1),
    ratioRow('ns per span (start, with(), end)', results.spanBase, results.spanProf, 1),
    ratioRow('ns per span, zero-code (no processor)', results.spanBase, results.spanZero, 1),
  ]);
  const delta = (base: number[], prof: number[]): string => fmt(median(prof.map((p, i) => p - base[i]!)), 1);
  console.log(`hand-off cost (median of per-round differences): ${delta(results.switchBase, results.switchProf)} ns per switch, ${delta(results.awaitBase, results.awaitProf)} ns per await, ${delta(results.spanBase, results.spanProf)} ns per span (zero-code: ${delta(results.spanBase, results.spanZero)})`);
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
