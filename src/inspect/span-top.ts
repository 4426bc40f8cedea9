import type { Profile } from 'pprof-format';
import { sampleTypesOf } from '../agent/upload-check.js';

/** Which samples to keep: a span (and, as local root, everything under it) or a whole trace. */
export type SpanQuery = { kind: 'span'; spanIdNum: bigint } | { kind: 'trace'; traceId: string };

/**
 * Parses a span id (16 hex digits, or the decimal of the `local root span id` label: unsigned, or signed as
 * `go tool pprof` shows ids above 2^63) or a trace id (32 hex).
 */
export function parseSpanQuery(text: string): SpanQuery {
  const value = text.trim().toLowerCase();
  if (/^[0-9a-f]{32}$/.test(value)) return { kind: 'trace', traceId: value };
  if (/^[0-9a-f]{16}$/.test(value)) return { kind: 'span', spanIdNum: BigInt('0x' + value) };
  if (/^-?\d{1,20}$/.test(value) && BigInt(value) < 2n ** 64n && BigInt(value) >= -(2n ** 63n)) {
    return { kind: 'span', spanIdNum: BigInt.asUintN(64, BigInt(value)) };
  }
  throw new Error(`not a span id (16 hex digits or a decimal number) nor a trace id (32 hex digits): ${JSON.stringify(text)}`);
}

export interface FunctionRow {
  name: string;
  selfCpuNanos: number;
  cumCpuNanos: number;
  selfWallNanos: number;
  cumWallNanos: number;
}

export interface SpanTop {
  samples: number;
  cpuNanos: number;
  wallNanos: number;
  rows: FunctionRow[];
}

function matcher(profile: Profile, query: SpanQuery): (sample: Profile['sample'][number]) => boolean {
  const strings = profile.stringTable.strings;
  const keys = new Set(query.kind === 'trace' ? ['trace id'] : ['span id', 'local root span id']);
  return (sample) =>
    sample.label.some((label) => {
      if (!keys.has(strings[Number(label.key)] ?? '')) return false;
      if (query.kind === 'trace') return strings[Number(label.str)] === query.traceId;
      return BigInt.asUintN(64, BigInt(label.num)) === query.spanIdNum;
    });
}

function frameNames(profile: Profile): (locationId: number | bigint) => string[] {
  const strings = profile.stringTable.strings;
  const functions = new Map(profile.function.map((f) => [Number(f.id), f]));
  const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
  return (locationId) =>
    (locations.get(Number(locationId))?.line ?? []).map((line) => {
      const fn = functions.get(Number(line.functionId));
      const name = strings[Number(fn?.name ?? 0)] || '(anonymous)';
      const file = strings[Number(fn?.filename ?? 0)];
      return file ? `${name} ${file}:${Number(line.line)}` : name;
    });
}

/** The functions that burned the time of the matching samples: self and cumulative CPU and wall time. */
export function spanTop(profiles: Profile[], query: SpanQuery): SpanTop {
  const rows = new Map<string, FunctionRow>();
  const result: SpanTop = { samples: 0, cpuNanos: 0, wallNanos: 0, rows: [] };
  for (const profile of profiles) {
    const types = sampleTypesOf(profile);
    const [countAt, wallAt, cpuAt] = ['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds'].map((t) => types.indexOf(t));
    if (wallAt === undefined || wallAt < 0) continue;
    const matches = matcher(profile, query);
    const namesOf = frameNames(profile);
    for (const sample of profile.sample) {
      if (!matches(sample)) continue;
      const wall = Number(sample.value[wallAt]);
      const cpu = cpuAt !== undefined && cpuAt >= 0 ? Number(sample.value[cpuAt]) : 0;
      result.samples += countAt !== undefined && countAt >= 0 ? Number(sample.value[countAt]) : 1;
      result.wallNanos += wall;
      result.cpuNanos += cpu;
      const stack = sample.locationId.flatMap(namesOf);
      stack.forEach((name, depth) => {
        let row = rows.get(name);
        if (!row) rows.set(name, (row = { name, selfCpuNanos: 0, cumCpuNanos: 0, selfWallNanos: 0, cumWallNanos: 0 }));
        if (depth === 0) {
          row.selfCpuNanos += cpu;
          row.selfWallNanos += wall;
        }
        // A recursive function counts once per sample in its cumulative time.
        if (stack.indexOf(name) === depth) {
          row.cumCpuNanos += cpu;
          row.cumWallNanos += wall;
        }
      });
    }
  }
  result.rows = [...rows.values()].sort((a, b) => b.selfCpuNanos - a.selfCpuNanos || b.cumCpuNanos - a.cumCpuNanos);
  return result;
}

const ms = (nanos: number): string => `${(nanos / 1e6).toFixed(1)}ms`.padStart(10);
const pct = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'}%`.padStart(7);

/** A `go tool pprof -top`-like table of the top `limit` functions by self CPU time. */
export function formatSpanTop(top: SpanTop, limit = 20): string {
  const lines = [
    `${top.samples} samples, cpu ${(top.cpuNanos / 1e6).toFixed(1)}ms, wall ${(top.wallNanos / 1e6).toFixed(1)}ms`,
    `  self cpu   self%    cum cpu    cum%   self wall  function`,
  ];
  for (const row of top.rows.slice(0, limit)) {
    lines.push(
      `${ms(row.selfCpuNanos)} ${pct(row.selfCpuNanos, top.cpuNanos)} ${ms(row.cumCpuNanos)} ${pct(row.cumCpuNanos, top.cpuNanos)} ${ms(row.selfWallNanos)}  ${row.name}`,
    );
  }
  return lines.join('\n');
}
