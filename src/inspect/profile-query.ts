// Reading what the stand-in agent and the file exporter write (folders of wall/space pprofs, or plain pprof
// files), filtering samples by span, trace or endpoint, and turning them into top tables, collapsed stacks or
// speedscope JSON. Pure functions over pprof-format Profiles, for `top` and `convert`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Profile, StringTable, ValueType } from 'pprof-format';
import { PprofAppender } from '../profile/pprof-append.js';
import { sampleTypesOf } from '../agent/upload-check.js';
import { parseSpanQuery } from './span-top.js';

export interface LoadedProfile {
  file: string;
  profile: Profile;
  /** The upload it came from: its folder (the stand-in agent and the file exporter write one per period). */
  period: string;
  /** The period's bounds: from the folder's event.json where there is one, else from the pprof's own time. */
  startMillis: number;
  endMillis: number;
}

/**
 * A period's bounds from its folder's description (`start`, `end`): the stand-in agent's event.json or the
 * file exporter's period.json, if it has a readable one.
 */
function eventBounds(folder: string, cache: Map<string, { startMillis: number; endMillis: number } | undefined>) {
  if (!cache.has(folder)) {
    let bounds: { startMillis: number; endMillis: number } | undefined;
    for (const name of ['event.json', 'period.json']) {
      try {
        const event = JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8')) as { start?: unknown; end?: unknown };
        const startMillis = Date.parse(String(event.start));
        const endMillis = Date.parse(String(event.end));
        if (Number.isFinite(startMillis) && Number.isFinite(endMillis)) bounds = { startMillis, endMillis };
        break;
      } catch {
        // none, or not readable: a plain folder of pprof files, whose own times are used
      }
    }
    cache.set(folder, bounds);
  }
  return cache.get(folder);
}

/** A pprof file's bytes, gzipped (as uploaded) or not, decoded. */
export function decodePprof(data: Buffer): Profile {
  return Profile.decode(data[0] === 0x1f && data[1] === 0x8b ? zlib.gunzipSync(data) : data);
}

/**
 * Every `*.pprof` under the folders given (recursively) and the files given, decoded; a clear error otherwise.
 * `allowEmpty` (a live folder that has no upload yet): a folder without pprof files gives none, not an error.
 */
export function loadProfiles(targets: readonly string[], options: { allowEmpty?: boolean } = {}): LoadedProfile[] {
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
      if (found.length === 0 && !options.allowEmpty) throw new Error(`no .pprof files in ${target}`);
      files.push(...found.map((name) => path.join(target, name)));
    }
  }
  const events = new Map<string, { startMillis: number; endMillis: number } | undefined>();
  return files.map((file) => {
    let profile: Profile;
    try {
      profile = decodePprof(fs.readFileSync(file));
    } catch (error) {
      throw new Error(`not a readable pprof file (gzipped or not): ${file} (${(error as Error).message})`);
    }
    const period = path.dirname(file);
    const own = Number(BigInt(profile.timeNanos) / 1_000_000n);
    const bounds = eventBounds(period, events) ?? { startMillis: own, endMillis: own + Number(BigInt(profile.durationNanos) / 1_000_000n) };
    return { file, profile, period, ...bounds };
  });
}

export interface PeriodSummary {
  period: string;
  startMillis: number;
  endMillis: number;
  files: number;
}

/** The periods (uploads) of the profiles loaded, oldest first. */
export function listPeriods(profiles: readonly LoadedProfile[]): PeriodSummary[] {
  const periods = new Map<string, PeriodSummary>();
  for (const p of profiles) {
    const known = periods.get(p.period);
    if (known) {
      known.files++;
      known.startMillis = Math.min(known.startMillis, p.startMillis);
      known.endMillis = Math.max(known.endMillis, p.endMillis);
    } else periods.set(p.period, { period: p.period, startMillis: p.startMillis, endMillis: p.endMillis, files: 1 });
  }
  return [...periods.values()].sort((a, b) => a.startMillis - b.startMillis || a.period.localeCompare(b.period));
}

/** `--since` / `--until`: an ISO 8601 date and time (`2026-12-01T13:06:51Z`) or milliseconds since the epoch. */
export function parseTime(option: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  const millis = /^\d+$/.test(text) ? Number(text) : /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(millis)) throw new Error(`${option} wants an ISO 8601 time (2026-12-01T13:06:51Z) or epoch milliseconds, got ${JSON.stringify(value)}`);
  return millis;
}

/** The profiles whose period overlaps [since, until); all of them when neither is given. */
function inWindow(profiles: readonly LoadedProfile[], filter: SampleFilter): readonly LoadedProfile[] {
  const { sinceMillis: since, untilMillis: until } = filter;
  if (since === undefined && until === undefined) return profiles;
  const iso = (millis: number): string => new Date(millis).toISOString();
  if (since !== undefined && until !== undefined && until <= since) throw new Error(`--until (${iso(until)}) must be after --since (${iso(since)})`);
  // A heap snapshot has no duration: it belongs to the window it was taken in.
  const selected = profiles.filter((p) => (until === undefined || p.startMillis < until) && (since === undefined || p.endMillis > since || (p.endMillis === p.startMillis && p.startMillis >= since)));
  if (selected.length === 0) {
    const periods = listPeriods(profiles);
    const cover = periods.length > 0 ? `${iso(periods[0]!.startMillis)} to ${iso(periods[periods.length - 1]!.endMillis)}` : 'nothing';
    throw new Error(`no period between ${since === undefined ? 'the first' : iso(since)} and ${until === undefined ? 'the last' : iso(until)} (the profiles cover ${cover})`);
  }
  return selected;
}

export interface SampleFilter {
  /** A span id (hex or the decimal label value): the span's own samples and, for a local root, all under it. */
  span?: string | undefined;
  /** A trace id (32 hex digits). */
  trace?: string | undefined;
  /** A `trace endpoint` label value (`GET /orders/:id`). */
  endpoint?: string | undefined;
  /** A thread: its `thread id` (0 is the main thread) or its `thread name`. */
  thread?: string | undefined;
  /** Only the periods that overlap [since, until), epoch milliseconds. */
  sinceMillis?: number | undefined;
  untilMillis?: number | undefined;
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
    let threadOk = filter.thread === undefined;
    for (const label of sample.label) {
      const key = strings[Number(label.key)];
      if (span && (key === 'span id' || key === 'local root span id') && BigInt.asUintN(64, BigInt(label.num)) === span.spanIdNum) spanOk = true;
      else if (trace && key === 'trace id' && strings[Number(label.str)] === trace) traceOk = true;
      else if (filter.endpoint !== undefined && key === 'trace endpoint' && strings[Number(label.str)] === filter.endpoint) endpointOk = true;
      else if (filter.thread !== undefined && (key === 'thread id' || key === 'thread name') && strings[Number(label.str)] === filter.thread) threadOk = true;
    }
    return spanOk && traceOk && endpointOk && threadOk;
  };
}

/** `cpu`, `wall`, `inuse_space`... : the sample type by its type name (or `type/unit`). */
function typeIndex(profile: Profile, type: string): number {
  return sampleTypesOf(profile).findIndex((t) => t === type || t.split('/')[0] === type);
}

/** The profiles in the filter's time window that have the sample type; a clear error when none has it. */
function withType(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter): LoadedProfile[] {
  const found = inWindow(profiles, filter).filter((p) => typeIndex(p.profile, type) >= 0);
  if (found.length === 0) {
    const known = [...new Set(profiles.flatMap((p) => sampleTypesOf(p.profile).map((t) => t.split('/')[0]!)))];
    throw new Error(`no profile has sample type ${JSON.stringify(type)} (there are: ${known.join(', ')})`);
  }
  return found;
}

export interface Frame {
  name: string;
  file: string;
  line: number;
}

/** The matching samples of one sample type across the profiles that have it: stacks root first, and values. */
export function stacksOf(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}): Array<{ frames: Frame[]; value: number }> {
  const stacks: Array<{ frames: Frame[]; value: number }> = [];
  for (const { profile } of withType(profiles, type, filter)) {
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

/**
 * One pprof of the matching samples of every selected profile that has the sample type, merged: functions and
 * locations interned anew, labels (span ids, endpoints) kept, so `go tool pprof` can filter it again. All the
 * sample types are kept when the profiles share them (wall files: sample, wall, cpu), else just the one asked.
 */
export function toMergedPprof(profiles: readonly LoadedProfile[], type: string, filter: SampleFilter = {}): Profile {
  const selected = withType(profiles, type, filter);
  const signature = (p: LoadedProfile): string => sampleTypesOf(p.profile).join(',');
  const allTypes = selected.every((p) => signature(p) === signature(selected[0]!));
  const strings = new StringTable();
  const first = selected[0]!.profile;
  const firstStrings = first.stringTable.strings;
  const typeOf = (vt: ValueType): ValueType => new ValueType({ type: strings.dedup(firstStrings[Number(vt.type)]!), unit: strings.dedup(firstStrings[Number(vt.unit)]!) });
  const sampleType = allTypes ? first.sampleType.map(typeOf) : [typeOf(first.sampleType[typeIndex(first, type)]!)];
  const merged = new Profile({ sampleType, stringTable: strings });
  const appender = new PprofAppender(merged);
  for (const { profile } of selected) {
    const t = typeIndex(profile, type);
    const matches = sampleMatcher(profile, filter);
    appender.append(profile, {
      keep: (sample) => Number(sample.value[t] ?? 0) !== 0 && matches(sample),
      values: allTypes ? undefined : (sample) => [sample.value[t]!],
    });
  }
  const startMillis = Math.min(...selected.map((p) => p.startMillis));
  const endMillis = Math.max(...selected.map((p) => p.endMillis));
  const chosen = sampleType.findIndex((vt) => strings.strings[Number(vt.type)] === type.split('/')[0]);
  merged.timeNanos = BigInt(startMillis) * 1_000_000n;
  merged.durationNanos = BigInt(endMillis - startMillis) * 1_000_000n;
  if (first.periodType) merged.periodType = typeOf(first.periodType);
  merged.period = first.period;
  // The dimension asked for is the one pprof viewers open on.
  merged.defaultSampleType = chosen >= 0 ? sampleType[chosen]!.type : 0;
  return merged;
}

/** What `top --by` groups samples by: their function (the default), or one of the span labels. */
export const GROUP_LABELS = { span: 'local root span id', trace: 'trace id', endpoint: 'trace endpoint', thread: 'thread name' } as const;
export type GroupBy = keyof typeof GROUP_LABELS;

/**
 * The requests (local root spans), traces or endpoints with the most of one dimension: the first step of the
 * drill-down, before `--span`. Spans are given as 16 hex digits, as trace UIs show them.
 */
export function topLabels(profiles: readonly LoadedProfile[], type: string, by: GroupBy, filter: SampleFilter = {}, limit = 20): { total: number; rows: TopRow[] } {
  const wanted = GROUP_LABELS[by];
  const rows = new Map<string, TopRow>();
  let total = 0;
  for (const { profile } of withType(profiles, type, filter)) {
    const t = typeIndex(profile, type);
    const strings = profile.stringTable.strings;
    const matches = sampleMatcher(profile, filter);
    for (const sample of profile.sample) {
      const value = Number(sample.value[t] ?? 0);
      if (value === 0 || !matches(sample)) continue;
      total += value;
      const label = sample.label.find((l) => strings[Number(l.key)] === wanted);
      if (!label) continue;
      const name = by === 'span' ? BigInt.asUintN(64, BigInt(label.num)).toString(16).padStart(16, '0') : strings[Number(label.str)] ?? '';
      const row = rows.get(name) ?? { name, file: '', self: 0, total: 0 };
      row.self += value;
      row.total += value;
      rows.set(name, row);
    }
  }
  return { total, rows: [...rows.values()].sort((a, b) => b.self - a.self || a.name.localeCompare(b.name)).slice(0, limit) };
}
