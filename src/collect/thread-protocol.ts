// How the main thread's profiler and the samplers of worker threads talk: a BroadcastChannel named in an
// environment variable that workers inherit (set while the main profiler runs). Workers say hello, send each
// period's wall/CPU profile when asked (and their last one when they exit), and say goodbye.

/** JSON `ThreadSettings`; set in process.env by the main profiler, copied into every Worker started after. */
export const THREADS_CHANNEL_ENV = 'BLACKFIRE_CONPROF_THREADS_CHANNEL';

export interface ThreadSettings {
  channel: string;
  samplingIntervalMicros: number;
  periodMillis: number;
}

export interface ThreadHello {
  type: 'hello';
  threadId: number;
  threadName: string;
}

/** One worker's profile since its last one: the pprof protobuf, not gzipped (`final` when the worker exits). */
export interface ThreadPeriod {
  type: 'period';
  threadId: number;
  threadName: string;
  wall: Uint8Array;
  final: boolean;
}

/** From the main profiler: every worker sends what it has now. */
export interface ThreadCollect {
  type: 'collect';
}

export type ThreadMessage = ThreadHello | ThreadPeriod | ThreadCollect;

/** `thread name` of a sample: the Worker's `name` option where the runtime has it, else `Worker #<threadId>`. */
export function threadNameOf(threadId: number, name: string | undefined): string {
  if (threadId === 0) return 'Main';
  return name ? name : `Worker #${threadId}`;
}
