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
import { listPeriods, loadProfiles, toCollapsed, toMergedPprof, topFunctions, topLabels, toSpeedscope } from '../../src/inspect/profile-query';
import * as zlib from 'node:zlib';
import { Profile } from 'pprof-format';
import { goMissing, goPprof } from '../helpers/go-pprof';
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

// Two periods (two profiler runs into one folder, 300 ms apart): request A in the first, B in the second.
before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  for (const request of ['a', 'b'] as const) {
    const profiler = new Profiler({ applicationName: 'top-app', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
    const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
    profiler.start();
    const span = tracer.startSpan(`GET /${request}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': `/${request}` } });
    context.with(trace.setSpan(ROOT_CONTEXT, span), () => (request === 'a' ? burnForTopA(250) : burnForTopB(250)));
    span.end();
    if (request === 'a') spanA = span;
    else spanB = span;
    await profiler.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
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
    assert.match(r.stderr, /--to must be collapsed, speedscope or pprof/);
    r = runCli('top', dir, '--since', 'yesterday');
    assert.deepEqual([r.status, r.stderr.trim()], [2, 'top: --since wants an ISO 8601 time (2026-12-01T13:06:51Z) or epoch milliseconds, got "yesterday"']);
    r = runCli('top', dir, '--since', '2001-01-01T00:00:00Z', '--until', '2001-01-02T00:00:00Z');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^top: no period between 2001-01-01T00:00:00\.000Z and 2001-01-02T00:00:00\.000Z \(the profiles cover 20\d\d-/);
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test('periods: two uploads listed in order; --since/--until keep the periods that overlap the window', () => {
  const profiles = loadProfiles([dir]);
  const periods = listPeriods(profiles);
  assert.equal(periods.length, 2, JSON.stringify(periods));
  assert.ok(periods[0]!.endMillis <= periods[1]!.startMillis, 'oldest first, not overlapping');
  assert.equal(periods[0]!.files, 2, 'wall.pprof and space.pprof');
  const first = topFunctions(profiles, 'cpu', { untilMillis: periods[0]!.endMillis }, 50);
  assert.ok(share(first.rows, 'burnForTopA', first.total) > 0.5 && share(first.rows, 'burnForTopB', first.total) === 0, JSON.stringify(first.rows.slice(0, 3)));
  const second = topFunctions(profiles, 'cpu', { sinceMillis: periods[1]!.startMillis, untilMillis: periods[1]!.endMillis }, 50);
  assert.ok(share(second.rows, 'burnForTopB', second.total) > 0.5 && share(second.rows, 'burnForTopA', second.total) === 0, JSON.stringify(second.rows.slice(0, 3)));
  const both = topFunctions(profiles, 'cpu', {}, 50);
  assert.equal(first.total + second.total, both.total, 'the two periods merged are the whole');
  const cli = runCli('top', dir, '--since', new Date(periods[1]!.startMillis).toISOString(), '--json');
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal((JSON.parse(cli.stdout) as { total: number }).total, second.total, 'an ISO time on the command line');
});

test('convert --to pprof: one merged pprof of the selection, labels kept, read by go tool pprof on the dimension asked', (t) => {
  const profiles = loadProfiles([dir]);
  const merged = toMergedPprof(profiles, 'wall', { endpoint: 'GET /b' });
  const strings = merged.stringTable.strings;
  assert.deepEqual(merged.sampleType.map((vt) => strings[Number(vt.type)]), ['sample', 'wall', 'cpu'], 'the wall files share their types: all kept');
  assert.equal(strings[Number(merged.defaultSampleType)], 'wall');
  const wallAt = 1;
  const sum = merged.sample.reduce((n, s) => n + Number(s.value[wallAt]), 0);
  assert.equal(sum, topFunctions(profiles, 'wall', { endpoint: 'GET /b' }).total);
  assert.ok(merged.sample.every((s) => s.label.some((l) => strings[Number(l.key)] === 'trace endpoint' && strings[Number(l.str)] === 'GET /b')), 'labels survive');
  const out = path.join(os.tmpdir(), `bf-merged-${process.pid}.pprof`);
  try {
    const r = runCli('convert', '--to', 'pprof', dir, '--type', 'cpu', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const back = Profile.decode(zlib.gunzipSync(fs.readFileSync(out)));
    assert.equal(back.sample.length, toMergedPprof(profiles, 'cpu').sample.length);
    const missing = goMissing();
    if (missing) {
      t.diagnostic(`skipping the go tool pprof read: ${missing}`);
      return;
    }
    const top = goPprof('-top', '-nodecount=5', out);
    assert.match(top, /Type: cpu/, 'opens on the dimension asked (defaultSampleType)');
    assert.match(top, /burnForTopA/);
    assert.match(top, /burnForTopB/);
    assert.match(goPprof('-top', '-tagfocus=trace endpoint=GET /b', out), /burnForTopB/, 'filterable again by label');
  } finally {
    fs.rmSync(out, { force: true });
  }
});

test('top --by span|endpoint|trace: the requests with the most, whose ids --span takes back', () => {
  const profiles = loadProfiles([dir]);
  const bySpan = topLabels(profiles, 'cpu', 'span', {}, 10);
  assert.deepEqual(new Set(bySpan.rows.map((r) => r.name)), new Set([spanA.spanContext().spanId, spanB.spanContext().spanId]), '16 hex digits, as trace UIs show them');
  for (const row of bySpan.rows) assert.equal(row.total, topFunctions(profiles, 'cpu', { span: row.name }).total, `--span ${row.name} selects the same samples`);
  assert.deepEqual(topLabels(profiles, 'cpu', 'endpoint', {}, 10).rows.map((r) => r.name).sort(), ['GET /a', 'GET /b']);
  assert.deepEqual(topLabels(profiles, 'cpu', 'trace', { endpoint: 'GET /a' }, 10).rows.map((r) => r.name), [spanA.spanContext().traceId]);
  const cli = runCli('top', dir, '--by', 'span', '--json', '--top', '1');
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual((JSON.parse(cli.stdout) as { rows: unknown[] }).rows, JSON.parse(JSON.stringify(bySpan.rows.slice(0, 1))));
  const bad = runCli('top', dir, '--by', 'process');
  assert.deepEqual([bad.status, bad.stderr.trim()], [2, 'top: --by must be function, span, trace, endpoint or thread, got "process"']);
});
