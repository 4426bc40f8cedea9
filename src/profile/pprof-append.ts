// Copying samples from one pprof Profile into another: strings, functions and locations interned into the
// target's tables (the same function or location from several sources is kept once), labels re-keyed. Used
// to merge the worker threads' profiles into the main thread's (merge-threads.ts) and to merge the selected
// periods into one pprof (`convert --to pprof`).
import { Function as PprofFunction, Label, Line, Location, Sample } from 'pprof-format';
import type { Profile } from '../collect/pprof-bindings.js';

type SourceSample = Profile['sample'][number];

export interface AppendOptions {
  /** Which samples to copy (all by default). */
  keep?: (sample: SourceSample) => boolean;
  /** The copied sample's values, in the target's sample types (the source's as they are by default). */
  values?: (sample: SourceSample) => Array<number | bigint>;
  /** Labels added to every copied sample (built on the target's string table). */
  extraLabels?: readonly Label[];
}

export class PprofAppender {
  private readonly functions = new Map<string, number>();
  private readonly locations = new Map<string, number>();
  private nextFunctionId: number;
  private nextLocationId: number;

  constructor(private readonly target: Profile) {
    this.nextFunctionId = target.function.reduce((max, fn) => Math.max(max, Number(fn.id)), 0) + 1;
    this.nextLocationId = target.location.reduce((max, loc) => Math.max(max, Number(loc.id)), 0) + 1;
  }

  append(source: Profile, options: AppendOptions = {}): void {
    const target = this.target;
    const s = source.stringTable.strings;
    const str = (index: unknown): number => (Number(index) === 0 ? 0 : target.stringTable.dedup(s[Number(index)] ?? ''));
    const functionIds = new Map<number, number>();
    for (const fn of source.function) {
      const key = [s[Number(fn.name)], s[Number(fn.systemName)], s[Number(fn.filename)], Number(fn.startLine)].join('\u0000');
      let id = this.functions.get(key);
      if (id === undefined) {
        id = this.nextFunctionId++;
        this.functions.set(key, id);
        target.function.push(new PprofFunction({ id, name: str(fn.name), systemName: str(fn.systemName), filename: str(fn.filename), startLine: fn.startLine }));
      }
      functionIds.set(Number(fn.id), id);
    }
    const locationIds = new Map<number, number>();
    for (const loc of source.location) {
      const lines = loc.line.map((l) => ({ functionId: functionIds.get(Number(l.functionId)) ?? 0, line: Number(l.line), column: Number(l.column) }));
      const key = lines.map((l) => `${l.functionId}:${l.line}:${l.column}`).join(',');
      let id = this.locations.get(key);
      if (id === undefined) {
        id = this.nextLocationId++;
        this.locations.set(key, id);
        target.location.push(new Location({ id, line: lines.map((l) => new Line(l)) }));
      }
      locationIds.set(Number(loc.id), id);
    }
    const extra = options.extraLabels ?? [];
    for (const sample of source.sample) {
      if (options.keep && !options.keep(sample)) continue;
      target.sample.push(new Sample({
        locationId: sample.locationId.map((id) => locationIds.get(Number(id)) ?? 0),
        value: options.values ? options.values(sample) : [...sample.value],
        label: [...sample.label.map((l) => new Label({ key: str(l.key), str: str(l.str), num: l.num, numUnit: str(l.numUnit) })), ...extra],
      }));
    }
  }
}
