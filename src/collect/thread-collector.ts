// The main thread's side of worker-thread profiling (thread-protocol.ts): names the channel in process.env
// for the Workers started after, makes every new Worker preload the worker sampler (worker-entry.cjs), and
// gathers the workers' profiles of each period. Workers that are busy when asked answer late: their profile
// then joins the next period, never lost; a worker that exits sends its last one on its way out.
import { randomUUID } from 'node:crypto';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import { Profile } from 'pprof-format';
import { workerEntryPath } from './addon.cjs';
import { THREADS_CHANNEL_ENV, type ThreadMessage, type ThreadPeriod, type ThreadSettings } from './thread-protocol.js';

/** One worker's profile for a period. */
export interface ThreadProfile {
  threadId: number;
  threadName: string;
  profile: Profile;
}

type WorkerThreadsModule = typeof import('node:worker_threads');
type WorkerClass = WorkerThreadsModule['Worker'];

/** The CommonJS exports object of node:worker_threads (mutable; the ESM view follows syncBuiltinESMExports). */
function workerThreadsExports(): WorkerThreadsModule {
  return nodeModule.createRequire(path.join(process.cwd(), 'noop.js'))('node:worker_threads') as WorkerThreadsModule;
}

/** The flags of an ERR_WORKER_INVALID_EXEC_ARGV ("... invalid execArgv flags: --a, --b=1"), else undefined. */
function invalidExecArgv(error: unknown): Set<string> | undefined {
  const e = error as { code?: string; message?: string };
  if (e?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return undefined;
  const list = /flags: (.*)$/s.exec(e.message ?? '')?.[1];
  return list === undefined ? undefined : new Set(list.split(/, (?=--)/));
}

/** The most profiles kept from workers between two periods (a flood of short-lived workers, say). */
const MAX_PENDING = 1000;

export class ThreadCollector {
  private channel: InstanceType<WorkerThreadsModule['BroadcastChannel']> | undefined;
  private readonly pending: ThreadPeriod[] = [];
  /** Workers that said hello and have not sent their last profile. */
  private readonly live = new Set<number>();
  private answered = new Set<number>();
  private wake: (() => void) | undefined;
  private original: WorkerClass | undefined;
  /** Workers' `name` options, by threadId, from the patched constructor (the worker itself only knows it on Node >= 22). */
  private readonly names = new Map<number, string>();
  dropped = 0;

  start(settings: Omit<ThreadSettings, 'channel'>): void {
    if (this.channel) return;
    const wt = workerThreadsExports();
    const name = `blackfire-otel-profiler:${process.pid}:${randomUUID()}`;
    process.env[THREADS_CHANNEL_ENV] = JSON.stringify({ channel: name, ...settings } satisfies ThreadSettings);
    this.channel = new wt.BroadcastChannel(name);
    (this.channel as { unref?: () => void }).unref?.();
    this.channel.onmessage = (event) => this.receive((event as MessageEvent).data as ThreadMessage);
    this.patchWorker(wt);
  }

  stop(): void {
    if (!this.channel) return;
    delete process.env[THREADS_CHANNEL_ENV];
    this.channel.close();
    this.channel = undefined;
    this.unpatchWorker();
    this.live.clear();
  }

  /** Asks every worker for its profile now (at the main thread's rotation). */
  request(): void {
    this.answered = new Set();
    this.channel?.postMessage({ type: 'collect' } satisfies ThreadMessage);
  }

  /** What the workers sent since the last call: waits until every live worker answered, or `waitMillis`. */
  async take(waitMillis: number): Promise<ThreadProfile[]> {
    const deadline = Date.now() + waitMillis;
    while ([...this.live].some((id) => !this.answered.has(id)) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        // Ref'd, and bounded: a stop() at beforeExit must not lose the workers' last profiles to an empty loop.
        setTimeout(resolve, Math.max(1, deadline - Date.now()));
      });
    }
    const taken = this.pending.splice(0);
    const profiles: ThreadProfile[] = [];
    for (const message of taken) {
      try {
        const threadName = this.names.get(message.threadId) ?? message.threadName;
        profiles.push({ threadId: message.threadId, threadName, profile: Profile.decode(message.wall) });
        if (message.final) this.names.delete(message.threadId);
      } catch {
        this.dropped++;
      }
    }
    return profiles;
  }

  private receive(message: ThreadMessage): void {
    if (message?.type === 'hello') this.live.add(message.threadId);
    if (message?.type !== 'period') return;
    if (this.pending.length >= MAX_PENDING) this.dropped++;
    else this.pending.push(message);
    this.answered.add(message.threadId);
    if (message.final) this.live.delete(message.threadId);
    this.wake?.();
  }

  /** New Workers preload the worker sampler: `--require worker-entry.cjs` added to their execArgv. */
  private patchWorker(wt: WorkerThreadsModule): void {
    const Original = wt.Worker;
    const entry = workerEntryPath();
    const names = this.names;
    const remember = (worker: InstanceType<WorkerClass>, options: ConstructorParameters<WorkerClass>[1]): void => {
      if (typeof options?.name === 'string' && options.name !== '' && names.size < MAX_PENDING) names.set(worker.threadId, options.name);
    };
    class ProfiledWorker extends Original {
      constructor(filename: string | URL, options: ConstructorParameters<WorkerClass>[1] = {}) {
        const execArgv = options.execArgv ?? process.execArgv;
        if (execArgv.includes(entry)) {
          super(filename, options);
        } else {
          try {
            super(filename, { ...options, execArgv: [...execArgv, '--require', entry] });
          } catch (error) {
            // Inherited flags a Worker refuses (per-process ones, which Node drops itself when it inherits):
            // dropped the same way, once. Anything else is the application's own error.
            const refused = invalidExecArgv(error);
            if (refused === undefined) throw error;
            super(filename, { ...options, execArgv: [...execArgv.filter((flag) => !refused.has(flag)), '--require', entry] });
          }
        }
        remember(this, options);
      }
    }
    Object.defineProperty(ProfiledWorker, 'name', { value: 'Worker' });
    this.original = Original;
    wt.Worker = ProfiledWorker as WorkerClass;
    nodeModule.syncBuiltinESMExports();
  }

  private unpatchWorker(): void {
    if (!this.original) return;
    workerThreadsExports().Worker = this.original;
    this.original = undefined;
    nodeModule.syncBuiltinESMExports();
  }
}
