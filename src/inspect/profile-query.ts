// Reading what the stand-in agent and the file exporter write (folders of wall/space pprofs, or plain pprof
// files), filtering samples by span, trace or endpoint, and turning them into top tables, collapsed stacks or
// speedscope JSON. Pure functions over pprof-format Profiles, for `top` and `convert`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Profile } from 'pprof-format';
import { sampleTypesOf } from '../agent/upload-check.js';
import { parseSpanQuery } from './span-top.js';

export interface LoadedProfile {
  file: string;
  profile: Profile;
}

/** Every `*.pprof` under the folders given (recursively) and the files given, decoded; a clear error otherwise. */
export function loadProfiles(targets: readonly string[]): LoadedProfile[] {
  const files: string[] = [];
  for (const target of targets) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch {
      throw new Error(`no such file or folder: ${target}`);
    }
    if (!stat.isDirectory()) files.push(target);
    else {
      const found = fs.readdirSync(target, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.pprof')).sort();
      if (found.length === 0) throw new Error(`no .pprof files in ${target}`);
      files.push(...found.map((name) => path.join(target, name)));
    }
  }
  return files.map((file) => {
    try {
      const data = fs.readFileSync(file);
      return { file, profile: Profile.decode(data[0] === 0x1f && data[1] === 0x8b ? zlib.gunzipSync(data) : data) };
    } catch (error) {
      throw new Error(`not a readable pprof file (gzipped or not): ${file} (${(error as Error).message})`);
    }
  });
}

export interface SampleFilter {
  /** A span id (hex or the decimal label value): the span's own samples and, for a local root, all under it. */
  span?: string | undefined;
  /** A trace id (32 hex digits). */
  trace?: string | undefined;
  /** A `trace endpoint` label value (`GET /orders/:id`). */
  endpoint?: string | undefined;
}

type Sample = Profile['sample'][number];

function sampleMatcher(profile: Profile, filter: SampleFilter): (sample: Sample) => boolean {
  const strings = profile.stringTable.strings;
  const span = filter.span === undefined ? undefined : parseSpanQuery(filter.span);
  if (span?.kind === 'trace') throw new Error(`--span wants a span id, got a trace id: ${filter.span} (use --trace)`);
  const trace = filter.trace?.trim().toLowerCase();
  if (trace !== undefined && !/^[0-9a-f]{32}$/.test(trace)) throw new Error(`--trace wants 32 hex digits, got ${JSON.stringify(filter.trace)}`);
  return (sample) => {
    let spanOk = span === undefined;
    let traceOk = trace === undefined;
    let endpointOk = filter.endpoint === undefined;
    for (const label of sample.label) {
      const key = strings[Number(label.key)];
      if (span && (key === 'span id' || key === 'local root span id') && BigInt.asUintN(64, BigInt(label.num)) === span.spanIdNum) spanOk = true;
      else if (trace && key === 'trace id' && strings[Number(label.str)] === trace) traceOk = true;
      else if (filter.endpoint !== undefined && key === 'trace endpoint' && strings[Number(label.str)] === filter.endpoint) endpointOk = true;
    }
    return spanOk && traceOk && endpointOk;
  };
}

/** `cpu`, `wall`, `inuse_space`... : the sample type by its type name (or `type/unit`). */
function typeIndex(profile: Profile, type: string): number {
  return sampleTypesOf(profile).findIndex((t) => t === type || t.split('/')[0] === type);
}

export interface Frame {
  name: string;
  file: string;
  line: number;
}

/** The matching samples of one sample type across the profiles that have it: stacks root first, and values. */
export function stacksOf(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}): Array<{ frames: Frame[]; value: number }> {
  const stacks: Array<{ frames: Frame[]; value: number }> = [];
  const withType = profiles.filter((p) => typeIndex(p.profile, type) >= 0);
  if (withType.length === 0) {
    const known = [...new Set(profiles.flatMap((p) => sampleTypesOf(p.profile).map((t) => t.split('/')[0]!)))];
    throw new Error(`no profile has sample type ${JSON.stringify(type)} (there are: ${known.join(', ')})`);
  }
  for (const { profile } of withType) {
    const t = typeIndex(profile, type);
    const strings = profile.stringTable.strings;
    const functions = new Map(profile.function.map((f) => [Number(f.id), f]));
    const locations = new Map(profile.location.map((l) => [Number(l.id), l]));
    const matches = sampleMatcher(profile, filter);
    for (const sample of profile.sample) {
      const value = Number(sample.value[t] ?? 0);
      if (value === 0 || !matches(sample)) continue;
      const frames: Frame[] = [];
      // pprof lists the leaf first, and a location's lines innermost first.
      for (const id of sample.locationId) {
        for (const line of locations.get(Number(id))?.line ?? []) {
          const fn = functions.get(Number(line.functionId));
          frames.push({ name: strings[Number(fn?.name ?? 0)] || '(anonymous)', file: strings[Number(fn?.filename ?? 0)] ?? '', line: Number(line.line) });
        }
      }
      stacks.push({ frames: frames.reverse(), value });
    }
  }
  return stacks;
}

export interface TopRow {
  name: string;
  file: string;
  self: number;
  total: number;
}

/** Functions by self value (then total), of the matching samples. */
export function topFunctions(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}, limit = 20): { total: number; rows: TopRow[] } {
  const rows = new Map<string, TopRow>();
  let total = 0;
  for (const { frames, value } of stacksOf(profiles, type, filter)) {
    total += value;
    const seen = new Set<string>();
    frames.forEach((frame, i) => {
      const key = `${frame.name}\u0000${frame.file}`;
      const row = rows.get(key) ?? { name: frame.name, file: frame.file, self: 0, total: 0 };
      if (i === frames.length - 1) row.self += value;
      if (!seen.has(key)) row.total += value;
      seen.add(key);
      rows.set(key, row);
    });
  }
  return { total, rows: [...rows.values()].sort((a, b) => b.self - a.self || b.total - a.total).slice(0, limit) };
}

/** Brendan Gregg's collapsed stacks: `root;child;leaf value`, one line per distinct stack. */
export function toCollapsed(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}): string {
  const lines = new Map<string, number>();
  for (const { frames, value } of stacksOf(profiles, type, filter)) {
    const key = frames.map((f) => f.name.replace(/[;\n]/g, '_')).join(';');
    lines.set(key, (lines.get(key) ?? 0) + value);
  }
  return [...lines].map(([stack, value]) => `${stack} ${value}`).join('\n') + (lines.size > 0 ? '\n' : '');
}

/** The speedscope file format (a "sampled" profile; https://www.speedscope.app/file-format-schema.json). */
export function toSpeedscope(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}, name = type): object {
  const frames: Frame[] = [];
  const frameIndex = new Map<string, number>();
  const samples: number[][] = [];
  const weights: number[] = [];
  for (const stack of stacksOf(profiles, type, filter)) {
    samples.push(stack.frames.map((f) => {
      const key = `${f.name}\u0000${f.file}\u0000${f.line}`;
      let index = frameIndex.get(key);
      if (index === undefined) frameIndex.set(key, (index = frames.push(f) - 1));
      return index;
    }));
    weights.push(stack.value);
  }
  const unit = type.startsWith('cpu') || type.startsWith('wall') ? 'nanoseconds' : type.endsWith('space') ? 'bytes' : 'none';
  return {
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    shared: { frames: frames.map((f) => ({ name: f.name, file: f.file || undefined, line: f.line || undefined })) },
    profiles: [{ type: 'sampled', name, unit, startValue: 0, endValue: weights.reduce((a, b) => a + b, 0), samples, weights }],
    exporter: 'blackfire-otel-profiler',
  };
}
