// `top` and `convert` over what the file exporter wrote for a real profiled run: two requests in their own
// server spans, each burning CPU in its own function.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { context, trace, ROOT_CONTEXT, SpanKind, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../../src/profiler';
import { FileExporter } from '../../src/export/file/file-exporter';
import { loadProfiles, toCollapsed, topFunctions, toSpeedscope } from '../../src/inspect/profile-query';
import { runCli } from '../helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-top-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));


function burnForTopA(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}
function burnForTopB(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.cbrt(x + 2);
  return x;
}

let spanA: Span;
let spanB: Span;

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const profiler = new Profiler({ applicationName: 'top-app', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
  profiler.start();
  spanA = tracer.startSpan('GET /a', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/a' } });
  context.with(trace.setSpan(ROOT_CONTEXT, spanA), () => burnForTopA(250));
  spanA.end();
  spanB = tracer.startSpan('GET /b', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/b' } });
  context.with(trace.setSpan(ROOT_CONTEXT, spanB), () => burnForTopB(250));
  spanB.end();
  await profiler.stop();
  context.disable();
});

const share = (rows: Array<{ name: string; total: number }>, name: string, total: number): number => (rows.find((r) => r.name === name)?.total ?? 0) / total;

test('top: unfiltered, both requests; filtered by span id (hex or decimal), trace id or endpoint, only that request', () => {
  const profiles = loadProfiles([dir]);
  const all = topFunctions(profiles, 'cpu', {}, 50);
  assert.ok(share(all.rows, 'burnForTopA', all.total) > 0.25 && share(all.rows, 'burnForTopB', all.total) > 0.25, JSON.stringify(all.rows.slice(0, 5)));
  const a = spanA.spanContext();
  for (const filter of [{ span: a.spanId }, { span: BigInt('0x' + a.spanId).toString() }, { trace: a.traceId }, { endpoint: 'GET /a' }]) {
    const only = topFunctions(profiles, 'cpu', filter, 50);
    assert.ok(only.total > 0, JSON.stringify(filter));
    assert.ok(share(only.rows, 'burnForTopA', only.total) > 0.75, `${JSON.stringify(filter)}: ${JSON.stringify(only.rows.slice(0, 3))}`);
    assert.equal(share(only.rows, 'burnForTopB', only.total), 0, JSON.stringify(filter));
  }
  const wall = topFunctions(profiles, 'wall', { endpoint: 'GET /b' });
  assert.equal(wall.rows[0]?.name, 'burnForTopB', 'wall time follows the same filters');
  assert.throws(() => topFunctions(profiles, 'nope'), /no profile has sample type "nope" \(there are: (.*, )?cpu(, .*)?\)/);
});

test('top --json (the CLI) gives the same rows as the function, for the same filters', () => {
  const decimal = BigInt('0x' + spanB.spanContext().spanId).toString();
  const result = runCli('top', dir, '--span', decimal, '--json', '--top', '5');
  assert.equal(result.status, 0, result.stderr);
  const json = JSON.parse(result.stdout) as { type: string; total: number; rows: Array<{ name: string; self: number; total: number }> };
  const direct = topFunctions(loadProfiles([dir]), 'cpu', { span: decimal }, 5);
  assert.equal(json.type, 'cpu');
  assert.equal(json.total, direct.total);
  assert.deepEqual(json.rows, JSON.parse(JSON.stringify(direct.rows)));
  assert.equal(json.rows[0]?.name, 'burnForTopB');
  const text = runCli('top', dir, '--endpoint', 'GET /a');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^cpu: total \d+\nself\tself%\ttotal\ttotal%\tfunction\n\d+\t\d+\.\d%\t\d+\t\d+\.\d%\tburnForTopA /);
});

test('convert: collapsed stacks and speedscope JSON of the same selection, with the same total', () => {
  const profiles = loadProfiles([dir]);
  const filter = { endpoint: 'GET /a' };
  const { total } = topFunctions(profiles, 'cpu', filter);
  const collapsed = toCollapsed(profiles, 'cpu', filter);
  const lines = collapsed.trim().split('\n');
  assert.ok(lines.every((l) => /^[^ ]+( [^ ;]+)*(;[^\n]+)* \d+$/.test(l) || / \d+$/.test(l)), collapsed.slice(0, 300));
  assert.equal(lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0), total);
  assert.ok(lines.some((l) => /;burnForTopA \d+$/.test(l)), 'the leaf is last');
  const speedscope = toSpeedscope(profiles, 'cpu', filter) as { shared: { frames: Array<{ name: string }> }; profiles: Array<{ type: string; unit: string; endValue: number; samples: number[][]; weights: number[] }> };
  assert.equal(speedscope.profiles[0]!.type, 'sampled');
  assert.equal(speedscope.profiles[0]!.unit, 'nanoseconds');
  assert.equal(speedscope.profiles[0]!.weights.reduce((a, b) => a + b, 0), total);
  assert.equal(speedscope.profiles[0]!.endValue, total);
  const cliOut = path.join(dir, '..', `bf-top-speedscope-${process.pid}.json`);
  const result = runCli('convert', '--to', 'speedscope', dir, '--endpoint', 'GET /a', '--out', cliOut);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(cliOut, 'utf8')).profiles[0].weights.reduce((a: number, b: number) => a + b, 0), total);
  fs.rmSync(cliOut, { force: true });
});

test('malformed input: a path that does not exist, an empty folder, a corrupt pprof, a bad flag: a clear message, exit 2', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-top-empty-'));
  const corrupt = path.join(empty, 'broken.pprof');
  try {
    let r = runCli('top', path.join(empty, 'nope'));
    assert.deepEqual([r.status, r.stderr.trim()], [2, `top: no such file or folder: ${path.join(empty, 'nope')}`]);
    r = runCli('top', empty);
    assert.deepEqual([r.status, r.stderr.trim()], [2, `top: no .pprof files in ${empty}`]);
    fs.writeFileSync(corrupt, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]));
    r = runCli('top', corrupt);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^top: not a readable pprof file \(gzipped or not\): .*broken\.pprof/);
    r = runCli('top', dir, '--trace', 'xyz');
    assert.deepEqual([r.status, r.stderr.trim()], [2, 'top: --trace wants 32 hex digits, got "xyz"']);
    r = runCli('convert', '--to', 'flamegraph.svg', dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--to must be collapsed or speedscope/);
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
