// One wall/CPU profile for the whole process: the worker threads' profiles appended to the main thread's,
// functions, locations and strings interned into its tables, every sample labelled `thread id` and
// `thread name` (the keys Datadog's intake and the Blackfire Agent read; the main thread is 0, "Main").
import { Function as PprofFunction, Label, Line, Location, Sample } from 'pprof-format';
import type { Profile } from '../collect/pprof-bindings.js';
import type { ThreadProfile } from '../collect/thread-collector.js';
import { threadNameOf } from '../collect/thread-protocol.js';
import * as workerThreads from 'node:worker_threads';

export const THREAD_ID_LABEL = 'thread id';
export const THREAD_NAME_LABEL = 'thread name';

function threadLabels(profile: Profile, threadId: number, threadName: string): Label[] {
  const st = profile.stringTable;
  return [
    new Label({ key: st.dedup(THREAD_ID_LABEL), str: st.dedup(String(threadId)) }),
    new Label({ key: st.dedup(THREAD_NAME_LABEL), str: st.dedup(threadName) }),
  ];
}

/**
 * Labels this thread's own samples (the main thread: 0, "Main"; a Profiler started inside a worker: that
 * worker), then appends each worker's; mutates and returns `main`.
 */
export function mergeThreads(main: Profile, threads: readonly ThreadProfile[]): Profile {
  const st = main.stringTable;
  const mainLabels = threadLabels(main, workerThreads.threadId, threadNameOf(workerThreads.threadId, (workerThreads as { threadName?: string }).threadName));
  for (const sample of main.sample) sample.label.push(...mainLabels);
  const typeNames = main.sampleType.map((vt) => `${st.strings[Number(vt.type)]}/${st.strings[Number(vt.unit)]}`);
  let nextFunctionId = main.function.reduce((max, fn) => Math.max(max, Number(fn.id)), 0) + 1;
  let nextLocationId = main.location.reduce((max, loc) => Math.max(max, Number(loc.id)), 0) + 1;
  for (const { threadId, threadName, profile } of threads) {
    const s = profile.stringTable.strings;
    const str = (index: unknown): number => (Number(index) === 0 ? 0 : st.dedup(s[Number(index)] ?? ''));
    // The worker's value at each of the main profile's sample types (by type/unit, whatever their order).
    const theirs = profile.sampleType.map((vt) => `${s[Number(vt.type)]}/${s[Number(vt.unit)]}`);
    const at = typeNames.map((name) => theirs.indexOf(name));
    const functionIds = new Map<number, number>();
    for (const fn of profile.function) {
      const id = nextFunctionId++;
      functionIds.set(Number(fn.id), id);
      main.function.push(new PprofFunction({ id, name: str(fn.name), systemName: str(fn.systemName), filename: str(fn.filename), startLine: fn.startLine }));
    }
    const locationIds = new Map<number, number>();
    for (const loc of profile.location) {
      const id = nextLocationId++;
      locationIds.set(Number(loc.id), id);
      main.location.push(new Location({ id, line: loc.line.map((l) => new Line({ functionId: functionIds.get(Number(l.functionId)) ?? 0, line: l.line, column: l.column })) }));
    }
    const labels = threadLabels(main, threadId, threadName);
    for (const sample of profile.sample) {
      main.sample.push(new Sample({
        locationId: sample.locationId.map((id) => locationIds.get(Number(id)) ?? 0),
        value: at.map((i) => (i >= 0 ? sample.value[i] ?? 0 : 0)),
        label: [...sample.label.map((l) => new Label({ key: str(l.key), str: str(l.str), num: l.num, numUnit: str(l.numUnit) })), ...labels],
      }));
    }
  }
  return main;
}
