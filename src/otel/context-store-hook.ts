import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, ContextManager } from '@opentelemetry/api';
import type { ContextHolders } from '../collect/context-store.js';

/** On a context manager: our patch (shared by every copy of this package). */
const STORE_PATCH = Symbol.for('blackfire-otel-profiler.context-store-patch');
/** On a holder: the OpenTelemetry Context it stands for. */
const CONTEXT = Symbol.for('blackfire-otel-profiler.otel-context');

/** What the storage holds for a context: a holder while the profiler runs and a span records, else the context. */
export type StoreOf = (ctx: Context) => unknown;
export const plainStore: StoreOf = (ctx) => ctx;

type Callback = (...args: unknown[]) => unknown;
/** `AsyncLocalStorageContextManager` of @opentelemetry/context-async-hooks (SDK 2.x and 3.x), as far as we use it. */
interface StorageManager extends ContextManager {
  _asyncLocalStorage: AsyncLocalStorage<Context>;
  attach?(ctx: Context): { dispose(): void };
  [STORE_PATCH]?: StorePatch;
}
type Disposable = { dispose(): void };
type StorageWithScope = AsyncLocalStorage<unknown> & { withScope?(store: unknown): Disposable };

export interface StorePatch {
  /** Swapped, never branched on: `plainStore` while no profiler runs. */
  storeOf: StoreOf;
}

/** Whether `manager` keeps its contexts in an AsyncLocalStorage the way the maintained manager does. */
export function isStorageManager(manager: ContextManager): manager is StorageManager {
  const storage = (manager as Partial<StorageManager>)._asyncLocalStorage;
  return storage instanceof AsyncLocalStorage && typeof manager.active === 'function' && typeof manager.with === 'function';
}

export function storePatchOf(manager: ContextManager): StorePatch | undefined {
  return (manager as StorageManager)[STORE_PATCH];
}

/**
 * Makes an `AsyncLocalStorageContextManager` keep its contexts in the sampler's storage: `with()` is one
 * `storage.run` of the context's store, `active()` reads the context back from it. Its `bind()` (functions and
 * event emitters) goes through `with()`. Contexts entered before the patch stay readable through the manager's
 * own storage. The patch stays (inert) when the profiler stops, so contexts entered meanwhile still propagate;
 * the manager's `disable()` removes it.
 */
export function patchStorageManager(manager: StorageManager, storage: AsyncLocalStorage<unknown>): StorePatch {
  const existing = manager[STORE_PATCH];
  if (existing) return existing;
  const patch: StorePatch = { storeOf: plainStore };
  const own = (['with', 'active', 'attach', 'disable'] as const).filter((name) => Object.hasOwn(manager, name));
  const saved = { with: manager.with, active: manager.active, attach: manager.attach, disable: manager.disable };
  const originalActive = manager.active;
  const originalDisable = manager.disable;
  const scoped = storage as StorageWithScope;
  manager.with = function withStore(this: ContextManager, ctx: Context, fn: Callback, thisArg?: unknown, ...args: unknown[]) {
    const cb = thisArg == null ? fn : fn.bind(thisArg);
    return storage.run(patch.storeOf(ctx), cb, ...args);
  } as ContextManager['with'];
  manager.active = function activeFromStore(this: ContextManager): Context {
    const store = storage.getStore() as (Context & { [CONTEXT]?: Context }) | undefined;
    if (store === undefined) return originalActive.call(this);
    return store[CONTEXT] ?? store;
  };
  if (typeof saved.attach === 'function') {
    manager.attach = function attachStore(ctx: Context): Disposable {
      if (typeof scoped.withScope === 'function') return scoped.withScope(patch.storeOf(ctx));
      const previous = storage.getStore();
      storage.enterWith(patch.storeOf(ctx));
      let disposed = false;
      return { dispose: () => (disposed ? undefined : ((disposed = true), storage.enterWith(previous))) };
    };
  }
  manager.disable = function disableAndUnpatch(this: ContextManager) {
    for (const name of ['with', 'active', 'attach', 'disable'] as const) {
      if (own.includes(name)) (manager as unknown as Record<string, unknown>)[name] = saved[name];
      else delete (manager as Partial<StorageManager>)[name];
    }
    delete manager[STORE_PATCH];
    return originalDisable.call(this);
  };
  manager[STORE_PATCH] = patch;
  return patch;
}

/**
 * The store of each context while the profiler runs: a holder of its span's sample context (the signal handler
 * reads it), made at the context's first activation and cached on the context object under the native profiler's
 * key, so a switch to a known context allocates nothing. The holder lives as long as the context does (nothing
 * roots the context: the native side holds only the sample context). Contexts without a sample context (no
 * recording span) are stored as they are.
 */
export function holderStoreOf(holders: ContextHolders, sampleContextFor: (ctx: Context) => object | undefined): StoreOf {
  const key = holders.key;
  return (ctx) => {
    const cached = (ctx as unknown as Record<symbol, unknown>)[key];
    if (cached !== undefined) return cached;
    const sampleContext = sampleContextFor(ctx);
    let store: object = ctx;
    if (sampleContext !== undefined) {
      store = holders.create(sampleContext);
      (store as { [CONTEXT]?: Context })[CONTEXT] = ctx;
    }
    try {
      (ctx as unknown as Record<symbol, unknown>)[key] = store;
    } catch {
      // A frozen context: not cached, its holder is made again at each activation.
    }
    return store;
  };
}
