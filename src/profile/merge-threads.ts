// One wall/CPU profile for the whole process: the worker threads' profiles appended to the main thread's,
// functions, locations and strings interned into its tables, every sample labelled `thread id` and
// `thread name` (the keys Datadog's intake and the Blackfire Agent read; the main thread is 0, "Main").
import { Label } from 'pprof-format';
import { PprofAppender } from './pprof-append.js';
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
  const appender = new PprofAppender(main);
  for (const { threadId, threadName, profile } of threads) {
    const s = profile.stringTable.strings;
    // The worker's value at each of the main profile's sample types (by type/unit, whatever their order).
    const theirs = profile.sampleType.map((vt) => `${s[Number(vt.type)]}/${s[Number(vt.unit)]}`);
    const at = typeNames.map((name) => theirs.indexOf(name));
    appender.append(profile, { values: (sample) => at.map((i) => (i >= 0 ? sample.value[i] ?? 0 : 0)), extraLabels: threadLabels(main, threadId, threadName) });
  }
  return main;
}
