import { AsyncLocalStorage } from 'node:async_hooks';
import { isMainThread } from 'node:worker_threads';
import { isAsyncContextFrameActive, nativeTimeBindings, type NativeTimeProfiler } from './pprof-bindings.js';

/**
 * The sampler's context store: one AsyncLocalStorage per thread whose stores are context holders made by the
 * native TimeProfiler keyed to it. The OpenTelemetry context manager keeps its contexts in this storage (see
 * otel/context-store-hook.ts), so a span switch is one `AsyncLocalStorage.run` and the signal handler finds the
 * span's sample context in the same AsyncContextFrame entry.
 *
 * A holder belongs to the TimeProfiler that made it, and disposing that profiler frees every holder's native side;
 * holders outlive any one period (they sit in the frames of pending continuations). So the native profilers here
 * are never disposed: a rotation restarts one, `stop()` stops it (which keeps it), and each sampling configuration
 * gets its own, kept for the life of the thread (a handful at most) and found again on the next start.
 */
export interface ContextHolders {
  /** The storage the context manager runs its contexts in; the profiler's CPED key. */
  readonly storage: AsyncLocalStorage<unknown>;
  /** Where a context keeps its holder (one key per native profiler: a holder of another one is never reused). */
  readonly key: symbol;
  /** A new holder for a sample context (`holder[0]` is the sample context). */
  create(sampleContext: object): object;
}

export interface StoreProfiler extends ContextHolders {
  readonly native: NativeTimeProfiler;
  /** Holders alive now (the native side's count): flat under load when contexts are cached, not per switch. */
  liveHolders(): number;
}

interface ThreadStore {
  storage: AsyncLocalStorage<unknown>;
  profilers: Map<string, StoreProfiler>;
  running: StoreProfiler | undefined;
}

/** Shared by every copy of this package in the thread (the ESM and CommonJS builds side by side, say). */
const THREAD_STORE = Symbol.for('blackfire-otel-profiler.context-store');
type GlobalWithStore = typeof globalThis & { [THREAD_STORE]?: ThreadStore };

/** Why the context store cannot run here (no AsyncContextFrame, or the addon's internals changed), else undefined. */
export function contextStoreUnavailable(): string | undefined {
  if (!isAsyncContextFrameActive()) return 'AsyncLocalStorage does not run on AsyncContextFrame here';
  return nativeTimeBindings.missing();
}

function threadStore(): ThreadStore {
  const global = globalThis as GlobalWithStore;
  if (global[THREAD_STORE] === undefined) {
    global[THREAD_STORE] = { storage: new AsyncLocalStorage(), profilers: new Map(), running: undefined };
    // Stop sampling before the process shuts down: a profiling signal during teardown can crash it.
    process.once('exit', () => stopRunning());
  }
  return global[THREAD_STORE];
}

function stopRunning(): void {
  const store = (globalThis as GlobalWithStore)[THREAD_STORE];
  const running = store?.running;
  if (store === undefined || running === undefined) return;
  store.running = undefined;
  running.native.stop(false);
}

function newStoreProfiler(storage: AsyncLocalStorage<unknown>, samplingIntervalMicros: number, durationMillis: number): StoreProfiler {
  const native = nativeTimeBindings.create({ samplingIntervalMicros, durationMillis, cpedKey: storage, isMainThread });
  return {
    native,
    storage,
    key: Symbol(`blackfire-otel-profiler.holder.${samplingIntervalMicros}us.${durationMillis}ms`),
    create: (sampleContext) => native.createContextHolder(sampleContext),
    liveHolders: () => native.metrics.usedAsyncContextCount,
  };
}

/** Starts sampling on the thread's store with this configuration (its native profiler made once, then reused). */
export function startStoreProfiler(samplingIntervalMicros: number, durationMillis: number): StoreProfiler {
  const store = threadStore();
  if (store.running !== undefined) throw new Error('the sampler of the context store is already running in this thread');
  const config = `${samplingIntervalMicros}/${durationMillis}`;
  let profiler = store.profilers.get(config);
  if (profiler === undefined) {
    profiler = newStoreProfiler(store.storage, samplingIntervalMicros, durationMillis);
    store.profilers.set(config, profiler);
  }
  profiler.native.start();
  store.running = profiler;
  return profiler;
}

/**
 * Ends the period: `collect` gets the raw V8 profile while V8 still holds it (the addon's lazy path: no copy of
 * the whole tree in JS first). With `restart`, sampling goes on with no gap (and V8's sampler is reset if the
 * addon saw it stuck); without, the profiler stops and is kept for a later start.
 */
export function rotateStoreProfiler<T>(profiler: StoreProfiler, restart: boolean, collect: (raw: unknown) => T): T {
  const store = threadStore();
  if (store.running !== profiler) throw new Error('this sampler of the context store is not running');
  if (!restart) store.running = undefined;
  const result = profiler.native.stopAndCollect(restart, collect);
  if (restart && profiler.native.v8ProfilerStuckEventLoopDetected() > 0) {
    // V8's profiler event processor can get stuck and give empty profiles: a full stop and start resets it.
    profiler.native.stop(false);
    profiler.native.start();
  }
  return result;
}

/** Whether a sampler of the context store runs in this thread. */
export function storeProfilerRunning(): boolean {
  return (globalThis as GlobalWithStore)[THREAD_STORE]?.running !== undefined;
}

/** The thread's storage (made on first use), for the context manager that keeps its contexts in it. */
export function contextStorage(): AsyncLocalStorage<unknown> {
  return threadStore().storage;
}
