// `blackfire-otel-profiler span <id> <files...>`: the functions that burned one span's (or one trace's) time,
// from wall.pprof files. A small wall profile is built with pprof-format, with the labels the profiler writes:
// `span id` and `local root span id` (numeric, unsigned 64-bit) and `trace id` (32 hex).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Profile, StringTable, type LabelInput } from 'pprof-format';
import { formatSpanTop, parseSpanQuery, spanTop, type FunctionRow } from '../../src/inspect/span-top';
import { runCli } from '../helpers/cli';

const MS = 1_000_000;
// Span ids above 2^63: their int64 reading is negative, the label must still match the unsigned id.
const ROOT_1 = 0xfedcba9876543210n;
const CHILD_1 = 0x8000000000000001n;
const ROOT_2 = 0x0000000000000abcn;
const TRACE_1 = '0af7651916cd43dd8448eb211c80319c';
const TRACE_2 = 'b7ad6b7169203331b7ad6b7169203331';
const hex16 = (id: bigint): string => id.toString(16).padStart(16, '0');

interface SampleSpec {
  /** Function names, leaf first. */
  stack: string[];
  wallMillis: number;
  cpuMillis: number;
  spanId?: bigint;
  rootId?: bigint;
  traceId?: string;
  /** Write the numeric labels as the signed int64 other tools produce. */
  signed?: boolean;
}

/** A wall profile as the profiler uploads it: sample/count, wall/nanoseconds, cpu/nanoseconds. */
function wallProfile(samples: SampleSpec[]): Profile {
  const strings = new StringTable();
  const functionIds = new Map<string, number>();
  const functions: Array<{ id: number; name: number; filename: number }> = [];
  const locations: Array<{ id: number; line: Array<{ functionId: number; line: number }> }> = [];
  const locationOf = (name: string): number => {
    let id = functionIds.get(name);
    if (id === undefined) {
      id = functions.length + 1;
      functionIds.set(name, id);
      functions.push({ id, name: strings.dedup(name), filename: strings.dedup('/srv/app.js') });
      locations.push({ id, line: [{ functionId: id, line: 10 * id }] });
    }
    return id;
  };
  const num = (value: bigint, signed: boolean | undefined): bigint => (signed ? BigInt.asIntN(64, value) : value);
  return new Profile({
    sampleType: [
      { type: strings.dedup('sample'), unit: strings.dedup('count') },
      { type: strings.dedup('wall'), unit: strings.dedup('nanoseconds') },
      { type: strings.dedup('cpu'), unit: strings.dedup('nanoseconds') },
    ],
    sample: samples.map((s) => {
      const label: LabelInput[] = [];
      if (s.spanId !== undefined) label.push({ key: strings.dedup('span id'), num: num(s.spanId, s.signed) });
      if (s.rootId !== undefined) label.push({ key: strings.dedup('local root span id'), num: num(s.rootId, s.signed) });
      if (s.traceId !== undefined) label.push({ key: strings.dedup('trace id'), str: strings.dedup(s.traceId) });
      return { locationId: s.stack.map(locationOf), value: [1, s.wallMillis * MS, s.cpuMillis * MS], label };
    }),
    location: locations,
    function: functions,
    stringTable: strings,
    periodType: { type: strings.dedup('wall'), unit: strings.dedup('nanoseconds') },
    period: 10 * MS,
  });
}

const trace1 = { rootId: ROOT_1, traceId: TRACE_1 };
/** Trace 1: a server span (ROOT_1) with a child (CHILD_1); trace 2: another request; and samples outside any span. */
const SAMPLES: SampleSpec[] = [
  { stack: ['computeInvoice', 'handleRequest'], wallMillis: 10, cpuMillis: 8, spanId: CHILD_1, ...trace1 },
  { stack: ['computeInvoice', 'handleRequest'], wallMillis: 10, cpuMillis: 9, spanId: CHILD_1, ...trace1, signed: true },
  { stack: ['handleRequest'], wallMillis: 10, cpuMillis: 2, spanId: ROOT_1, ...trace1 },
  { stack: ['fib', 'fib', 'fib', 'handleRequest'], wallMillis: 10, cpuMillis: 5, spanId: CHILD_1, ...trace1 },
  { stack: ['renderSearch', 'handleRequest'], wallMillis: 10, cpuMillis: 7, spanId: ROOT_2, rootId: ROOT_2, traceId: TRACE_2 },
  { stack: ['(idle)'], wallMillis: 50, cpuMillis: 0 },
  { stack: ['gc'], wallMillis: 10, cpuMillis: 10 },
];

const rowsByName = (rows: FunctionRow[]): Record<string, Omit<FunctionRow, 'name'>> =>
  Object.fromEntries(rows.map(({ name, ...rest }) => [name.replace(/ \/srv\/app\.js:\d+$/, ''), rest]));

test('parseSpanQuery: 16 hex digits or a decimal is a span id, 32 hex digits a trace id; anything else fails', () => {
  assert.deepEqual(parseSpanQuery(hex16(ROOT_1)), { kind: 'span', spanIdNum: ROOT_1 });
  assert.deepEqual(parseSpanQuery(hex16(ROOT_1).toUpperCase()), { kind: 'span', spanIdNum: ROOT_1 });
  assert.deepEqual(parseSpanQuery(` ${hex16(ROOT_2)}\n`), { kind: 'span', spanIdNum: ROOT_2 });
  assert.deepEqual(parseSpanQuery(ROOT_1.toString()), { kind: 'span', spanIdNum: ROOT_1 }, 'the decimal of the label (and of the drill-down attribute)');
  assert.deepEqual(parseSpanQuery('18446744073709551615'), { kind: 'span', spanIdNum: 2n ** 64n - 1n });
  assert.deepEqual(parseSpanQuery('2748'), { kind: 'span', spanIdNum: ROOT_2 });
  // The signed decimal `go tool pprof` shows for ids above 2^63.
  assert.deepEqual(parseSpanQuery(BigInt.asIntN(64, ROOT_1).toString()), { kind: 'span', spanIdNum: ROOT_1 });
  assert.deepEqual(parseSpanQuery('-1'), { kind: 'span', spanIdNum: 2n ** 64n - 1n });
  assert.deepEqual(parseSpanQuery((-(2n ** 63n)).toString()), { kind: 'span', spanIdNum: 2n ** 63n });
  assert.deepEqual(parseSpanQuery(TRACE_1.toUpperCase()), { kind: 'trace', traceId: TRACE_1 });
  const tooSmall = (-(2n ** 63n) - 1n).toString();
  for (const bad of ['', 'xyz', '18446744073709551616', tooSmall, '0xfedcba9876543210', hex16(ROOT_1).slice(1), TRACE_1 + '0', 'g'.repeat(16), '1.5', '+5']) {
    assert.throws(() => parseSpanQuery(bad), /not a span id .* nor a trace id/, `input ${JSON.stringify(bad)}`);
  }
});

test('spanTop of a local root: its own samples and those of the spans under it; self and cumulative time', () => {
  const top = spanTop([wallProfile(SAMPLES)], parseSpanQuery(hex16(ROOT_1)));
  assert.equal(top.samples, 4);
  assert.equal(top.cpuNanos, 24 * MS);
  assert.equal(top.wallNanos, 40 * MS);
  assert.deepEqual(rowsByName(top.rows), {
    computeInvoice: { selfCpuNanos: 17 * MS, cumCpuNanos: 17 * MS, selfWallNanos: 20 * MS, cumWallNanos: 20 * MS },
    fib: { selfCpuNanos: 5 * MS, cumCpuNanos: 5 * MS, selfWallNanos: 10 * MS, cumWallNanos: 10 * MS }, // recursion counted once
    handleRequest: { selfCpuNanos: 2 * MS, cumCpuNanos: 24 * MS, selfWallNanos: 10 * MS, cumWallNanos: 40 * MS },
  });
  assert.deepEqual(top.rows.map((r) => r.name.split(' ')[0]), ['computeInvoice', 'fib', 'handleRequest'], 'by self CPU, descending');
  assert.match(top.rows[0]!.name, /^computeInvoice \/srv\/app\.js:\d+$/);
  // The decimal form finds the same samples.
  assert.deepEqual(spanTop([wallProfile(SAMPLES)], parseSpanQuery(ROOT_1.toString())), top);
});

test('spanTop of a child span: only its samples (the signed int64 label form matches too)', () => {
  const top = spanTop([wallProfile(SAMPLES)], parseSpanQuery(hex16(CHILD_1)));
  assert.equal(top.samples, 3);
  assert.equal(top.cpuNanos, 22 * MS);
  assert.deepEqual(Object.keys(rowsByName(top.rows)).sort(), ['computeInvoice', 'fib', 'handleRequest']);
  assert.equal(rowsByName(top.rows).handleRequest!.selfCpuNanos, 0);
  const unsignedOnly = spanTop([wallProfile(SAMPLES.filter((s) => !s.signed))], parseSpanQuery(hex16(CHILD_1)));
  assert.equal(unsignedOnly.samples, 2, 'the signed sample was one of the three');
});

test('spanTop of a trace; of an unknown id; over several profiles', () => {
  const profile = wallProfile(SAMPLES);
  const trace2 = spanTop([profile], parseSpanQuery(TRACE_2));
  assert.equal(trace2.samples, 1);
  assert.deepEqual(Object.keys(rowsByName(trace2.rows)).sort(), ['handleRequest', 'renderSearch']);
  assert.equal(spanTop([profile], parseSpanQuery(TRACE_1)).samples, 4);
  // A trace id is not a span id: 16-hex halves of the trace id match nothing.
  assert.equal(spanTop([profile], parseSpanQuery(TRACE_1.slice(16))).samples, 0);
  const none = spanTop([profile], parseSpanQuery('0000000000000001'));
  assert.deepEqual(none, { samples: 0, cpuNanos: 0, wallNanos: 0, rows: [] });
  const twice = spanTop([profile, wallProfile(SAMPLES)], parseSpanQuery(hex16(ROOT_2)));
  assert.equal(twice.samples, 2);
  assert.equal(twice.cpuNanos, 14 * MS);
  // A profile without wall/nanoseconds (a heap profile) is skipped.
  const heap = new Profile({ sampleType: [], stringTable: new StringTable() });
  assert.equal(spanTop([heap, profile], parseSpanQuery(hex16(ROOT_2))).samples, 1);
});

test('formatSpanTop: the totals line, then one row per function, at most `limit`', () => {
  const top = spanTop([wallProfile(SAMPLES)], parseSpanQuery(hex16(ROOT_1)));
  const lines = formatSpanTop(top, 2).split('\n');
  assert.equal(lines[0], '4 samples, cpu 24.0ms, wall 40.0ms');
  assert.match(lines[1]!, /self cpu .* function/);
  assert.equal(lines.length, 4);
  assert.match(lines[2]!, /^\s+17\.0ms\s+70\.8%\s+17\.0ms\s+70\.8%\s+20\.0ms {2}computeInvoice \/srv\/app\.js:\d+$/);
  assert.match(lines[3]!, /fib /);
});

// The CLI, built: dist/cjs/cli.js (test/helpers/cli.ts).

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-span-top-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));


/** Uploads as the stand-in agent saves them: one folder per upload, gzipped wall.pprof and space.pprof. */
function writeUploads(): { dir: string; first: string } {
  const dir = path.join(tmp, 'profiles');
  const encoded = Buffer.from(wallProfile(SAMPLES).encode());
  for (const name of ['upload-1', 'upload-2']) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    fs.writeFileSync(path.join(dir, name, 'wall.pprof'), zlib.gzipSync(encoded));
    fs.writeFileSync(path.join(dir, name, 'space.pprof'), zlib.gzipSync(Buffer.from('not a wall profile')));
  }
  fs.writeFileSync(path.join(tmp, 'raw-wall.pprof'), encoded);
  return { dir, first: path.join(dir, 'upload-1', 'wall.pprof') };
}

test('CLI span: a folder of gzipped uploads; a single file; a raw (not gzipped) file; --top', () => {
  const { dir, first } = writeUploads();
  const all = runCli('span', hex16(ROOT_1), dir);
  assert.equal(all.status, 0, all.stderr);
  assert.match(all.stdout, new RegExp(`^${hex16(ROOT_1)} in 2 profile\\(s\\): 8 samples, cpu 48\\.0ms, wall 80\\.0ms\\n`));
  for (const fn of ['computeInvoice', 'fib', 'handleRequest']) assert.match(all.stdout, new RegExp(`  ${fn} /srv/app\\.js:\\d+\\n`));
  assert.doesNotMatch(all.stdout, /renderSearch|\(idle\)|gc/);

  const one = runCli('span', TRACE_2, first);
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /in 1 profile\(s\): 1 samples, cpu 7\.0ms/);
  assert.match(one.stdout, /renderSearch/);

  const raw = runCli('span', ROOT_1.toString(), path.join(tmp, 'raw-wall.pprof'), '--top', '1');
  assert.equal(raw.status, 0, raw.stderr);
  const rows = raw.stdout.trimEnd().split('\n').slice(2);
  assert.equal(rows.length, 1);
  assert.match(rows[0]!, /computeInvoice/);
});

test('CLI span: the signed decimal id (as go tool pprof shows ids above 2^63) after --', () => {
  const { first } = writeUploads();
  const result = runCli('span', '--', BigInt.asIntN(64, ROOT_1).toString(), first);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /4 samples, cpu 24\.0ms/);
});

test(
  'CLI span: the signed decimal id without --',
  () => {
    const { first } = writeUploads();
    const result = runCli('span', BigInt.asIntN(64, ROOT_1).toString(), first);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /4 samples, cpu 24\.0ms/);
  },
);

test('CLI span: exit 1 when no sample matches', () => {
  const { first } = writeUploads();
  const result = runCli('span', '0000000000000001', first);
  assert.equal(result.status, 1);
  assert.match(result.stdout, /0 samples/);
});

test('CLI: exit 2 on usage errors (missing arguments, unknown command)', () => {
  const { first } = writeUploads();
  for (const args of [['span'], ['span', hex16(ROOT_1)], ['nonsense', first]]) {
    const result = runCli(...args);
    assert.equal(result.status, 2, `args ${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /Usage:/);
    assert.equal(result.stdout, '');
  }
  const help = runCli('--help');
  assert.equal(help.status, 0);
  assert.match(help.stderr + help.stdout, /blackfire-otel-profiler span/);
});

test(
  'CLI: a malformed id or --top value is a usage error too (exit 2, naming the value)',
  () => {
    const { first } = writeUploads();
    const badId = runCli('span', 'not-an-id', first);
    assert.equal(badId.status, 2, badId.stderr);
    assert.match(badId.stderr, /not-an-id/);
    const badTop = runCli('span', hex16(ROOT_1), first, '--top', 'abc');
    assert.equal(badTop.status, 2, badTop.stdout);
    assert.match(badTop.stderr, /--top/);
  },
);

test('CLI span: no sample for the id: a hint at the likely causes; after --, a misplaced option is named as such', () => {
  const { first } = writeUploads();
  const none = runCli('span', '0000000000000001', first);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^span: no sample carries 0000000000000001\. Likely: the id was rounded \(go tool pprof -tags.*shorter than one sampling interval/);
  const misplaced = runCli('span', hex16(ROOT_1), first, '--', '--top', '3');
  assert.equal(misplaced.status, 2);
  assert.match(misplaced.stderr, /^span: no such file or folder: --top \(after --, every argument is an id or a file: put options before --\)/);
});
