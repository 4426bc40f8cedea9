// Cost of handing the active span to the sampler, per operation, against a no-profiler baseline in the same
// process: NodeSDK 2.x with the profiler's span processor. Baseline rounds run on an AsyncLocalStorageContextManager
// the profiler never touches; profiled rounds start the profiler (which takes over another one) and stop it.
//   switch:   context.with(ctxA, fn) then context.with(ctxB, fn), two recording spans: every call is a switch.
//   same:     with() of the span already active (instrumentations do it all the time).
//   bound:    two callbacks bound with context.bind() to ctxA and ctxB, called alternately (instrumentations'
//             callbacks and emitters: each call is a switch).
//   await:    200k `await Promise.resolve()` inside one active span.
//   span:     a local-root server span's life: startSpan, one with(), end.
//   root+child: startActiveSpan(root) { startActiveSpan(child) { } }, both ended.
//   zero-code: the span row again with a second Profiler whose span processor is not registered.
// Then 1 M spans under the profiler, each activated in a new context: live context holders and RSS after GC.
// Usage: node build/bench/span-handoff.js [--scale=N] [--quick]
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { context, ROOT_CONTEXT, SpanKind, trace, type Context, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { Profiler } from '../src/profiler';
import { sampleContextNow } from '../src/collect/time-sampler';
import { benchScale, fmt, median, printRuntime, printTable, ratioRow, RATIO_HEADER, roundOrder, startBenchAgent, type BenchAgent } from './harness';

const QUICK = process.argv.includes('--quick');
const SWITCHES = QUICK ? 200_000 : 1_000_000;
const AWAITS = QUICK ? 50_000 : 200_000;
const SPANS = QUICK ? 30_000 : 100_000;
const CHURN_SPANS = QUICK ? 200_000 : 1_000_000;

const one = (): number => 1;

function perOp(n: number, fn: () => void): number {
  const start = performance.now();
  fn();
  return ((performance.now() - start) * 1e6) / n;
}

function checkCalls(acc: number, n: number): void {
  if (acc !== n) throw new Error(`lost calls: ${acc} of ${n}`);
}

const ops = {
  switch: (ctxA: Context, ctxB: Context) =>
    perOp(SWITCHES, () => {
      let acc = 0;
      for (let i = 0; i < SWITCHES; i += 2) acc += context.with(ctxA, one) + context.with(ctxB, one);
      checkCalls(acc, SWITCHES);
    }),
  same: (ctxA: Context) =>
    context.with(ctxA, () =>
      perOp(SWITCHES, () => {
        let acc = 0;
        for (let i = 0; i < SWITCHES; i++) acc += context.with(ctxA, one);
        checkCalls(acc, SWITCHES);
      }),
    ),
  bound: (ctxA: Context, ctxB: Context) => {
    const a = context.bind(ctxA, one);
    const b = context.bind(ctxB, one);
    return perOp(SWITCHES, () => {
      let acc = 0;
      for (let i = 0; i < SWITCHES; i += 2) acc += a() + b();
      checkCalls(acc, SWITCHES);
    });
  },
  span: (tracer: Tracer) =>
    perOp(SPANS, () => {
      for (let i = 0; i < SPANS; i++) {
        const span = tracer.startSpan('GET /orders/:id', { kind: SpanKind.SERVER, attributes: { 'http.route': '/orders/:id' } });
        context.with(trace.setSpan(ROOT_CONTEXT, span), one);
        span.end();
      }
    }),
  rootAndChild: (tracer: Tracer) =>
    perOp(SPANS, () => {
      for (let i = 0; i < SPANS; i++) {
        tracer.startActiveSpan('GET /orders/:id', { kind: SpanKind.SERVER }, ROOT_CONTEXT, (root) => {
          tracer.startActiveSpan('load-order', (child) => child.end());
          root.end();
        });
      }
    }),
};

async function awaits(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

async function nsPerAwait(ctx: Context): Promise<number> {
  const start = performance.now();
  await context.with(ctx, () => awaits(AWAITS));
  return ((performance.now() - start) * 1e6) / AWAITS;
}

/** What the sampler would attach to a sample taken inside `ctx`, synchronously and after an await. */
async function sampledSpanIds(ctx: Context): Promise<string> {
  const spanIdOf = (): string => {
    const sample = sampleContextNow() as { spanContext?(): { spanId: string } } | undefined;
    return sample?.spanContext?.().spanId ?? 'none';
  };
  return context.with(ctx, async () => {
    const sync = spanIdOf();
    await new Promise(setImmediate);
    return `${sync}/${spanIdOf()}`;
  });
}

/**
 * Two context managers, one per kind of round, so that the same few AsyncLocalStorage keys are in every frame:
 * baseline rounds run on one the profiler never touches; profiled rounds on another, which the profiler takes
 * over at start() and which context.disable() (before the next baseline round) gives back untouched.
 */
const managers = { baseline: new AsyncLocalStorageContextManager(), profiled: new AsyncLocalStorageContextManager() };
function useContextManager(kind: keyof typeof managers): void {
  context.disable();
  context.setGlobalContextManager(managers[kind].enable());
}

const gc = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

/** 1 M spans, each in a new context, under the running profiler: live holders and RSS after a full GC. */
function churn(profiler: Profiler, tracer: Tracer): string[][] {
  const rows: string[][] = [];
  const checkpoint = (spans: number): void => {
    gc();
    const holders = profiler.stats().liveContextHolders;
    rows.push([String(spans), holders === undefined ? '-' : String(holders), fmt(process.memoryUsage().rss / 2 ** 20, 1), fmt(process.memoryUsage().heapUsed / 2 ** 20, 1)]);
  };
  checkpoint(0);
  const step = CHURN_SPANS / 4;
  for (let done = 0; done < CHURN_SPANS; ) {
    for (let i = 0; i < step; i++, done++) {
      const span = tracer.startSpan('GET /orders/:id', { kind: SpanKind.SERVER });
      context.with(trace.setSpan(ROOT_CONTEXT, span), one);
      span.end();
    }
    checkpoint(done);
  }
  return rows;
}

type Measures = Record<'switch' | 'same' | 'bound' | 'await' | 'span' | 'rootAndChild', number>;

async function measure(tracer: Tracer, ctxA: Context, ctxB: Context): Promise<Measures> {
  return {
    switch: ops.switch(ctxA, ctxB),
    same: ops.same(ctxA),
    bound: ops.bound(ctxA, ctxB),
    await: await nsPerAwait(ctxA),
    span: ops.span(tracer),
    rootAndChild: ops.rootAndChild(tracer),
  };
}

async function main(): Promise<void> {
  const rounds = QUICK ? 3 : Math.max(3, Math.round(7 * benchScale()));
  printRuntime('bench/span-handoff: span hand-off cost per operation');
  const agent: BenchAgent = await startBenchAgent();
  const profiler = new Profiler({ agentSocket: agent.address, applicationName: 'bench-span-handoff', periodMillis: 60_000 });
  const sdk = new NodeSDK({ serviceName: 'bench-span-handoff', spanProcessors: [profiler.spanProcessor() as never], metricReaders: [], logRecordProcessors: [] });
  sdk.start();
  const zeroCode = new Profiler({ agentSocket: agent.address, applicationName: 'bench-span-handoff-zero-code', periodMillis: 60_000 });
  const tracer = trace.getTracer('bench');
  const spanA = tracer.startSpan('a');
  const spanB = tracer.startSpan('b');
  const ctxA = trace.setSpan(ROOT_CONTEXT, spanA);
  const ctxB = trace.setSpan(ROOT_CONTEXT, spanB);
  const base: Measures[] = [];
  const prof: Measures[] = [];
  const zero: number[] = [];
  let check = '';
  let churnRows: string[][] = [];
  try {
    for (let round = -1; round < rounds; round++) {
      for (const profiled of roundOrder(Math.max(round, 0), false, true)) {
        useContextManager(profiled ? 'profiled' : 'baseline');
        if (profiled) profiler.start();
        const m = await measure(tracer, ctxA, ctxB);
        if (profiled && round === 0) check = await sampledSpanIds(ctxA);
        if (profiled) await profiler.stop();
        if (round >= 0) (profiled ? prof : base).push(m);
      }
      useContextManager('profiled');
      zeroCode.start();
      const perSpanZero = ops.span(tracer);
      await zeroCode.stop();
      if (round >= 0) zero.push(perSpanZero);
    }
    useContextManager('profiled');
    profiler.start();
    churnRows = churn(profiler, tracer);
    await profiler.stop();
  } finally {
    spanA.end();
    spanB.end();
    await sdk.shutdown();
    await agent.close();
  }
  const expected = spanA.spanContext().spanId;
  console.log(`${rounds} rounds (+1 warm-up), baseline and profiled alternating, then zero-code; ${SWITCHES} switches, ${AWAITS} awaits, ${SPANS} spans per measure`);
  console.log(`hand-off: ${String(profiler.stats().spanHandOff)}; sampler context inside span a (sync/after an await): ${check}; expected ${expected}/${expected}: ${check === `${expected}/${expected}` ? 'ok' : 'MISMATCH'}`);
  console.log(`uploads accepted by the agent: ${agent.uploads.length}`);
  console.log('');
  const col = (list: Measures[], key: keyof Measures): number[] => list.map((m) => m[key]);
  const rows: Array<[string, keyof Measures]> = [
    ['ns per context.with() switch', 'switch'],
    ['ns per with() of the active span (no switch)', 'same'],
    ['ns per bound callback (a switch)', 'bound'],
    ['ns per await in an active span', 'await'],
    ['ns per span (start, with(), end)', 'span'],
    ['ns per root span with one child', 'rootAndChild'],
  ];
  printTable(RATIO_HEADER, [
    ...rows.map(([label, key]) => ratioRow(label, col(base, key), col(prof, key), 1)),
    ratioRow('ns per span, zero-code (no processor)', col(base, 'span'), zero, 1),
  ]);
  const delta = (b: number[], p: number[]): string => fmt(median(p.map((v, i) => v - b[i]!)), 1);
  console.log('');
  console.log('extra per operation (median of per-round differences, ns):');
  console.log(rows.map(([, key]) => `${key} ${delta(col(base, key), col(prof, key))}`).join(', ') + `, span zero-code ${delta(col(base, 'span'), zero)}`);
  console.log('');
  console.log(`${CHURN_SPANS} spans, each activated in a new context, profiler running (after a full GC at each checkpoint):`);
  printTable(['spans', 'live context holders', 'RSS MB', 'heapUsed MB'], churnRows);
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
