import { createHook, type AsyncHook } from 'node:async_hooks';
import { context as contextApi, trace, type Context, type ContextManager, type Span } from '@opentelemetry/api';

type ContextAPI = typeof contextApi;
import { timeBindings } from '../collect/pprof-bindings.js';
import type { ContextHolders } from '../collect/context-store.js';
import type { HandOffMode } from '../collect/time-sampler.js';
import type { SampleContext } from './span-context.js';
import { holderStoreOf, isStorageManager, patchStorageManager, plainStore, type StoreOf, type StorePatch } from './context-store-hook.js';

/** The sample context of "no span": samples taken under it carry no span labels. */
export const NO_SPAN: object = Object.freeze({});

/** Where @opentelemetry/api 1.x keeps its globals, shared by every copy of the API in the process. */
const API_GLOBALS = Symbol.for('opentelemetry.js.api.1');
const HOOKED = Symbol.for('blackfire-otel-profiler.context-hook');

/** `ContextManager.with`, loosely typed: the wrapper passes its arguments through untouched. */
type WithFn = (this: ContextManager, ctx: Context, fn: (...args: unknown[]) => unknown, thisArg?: unknown, ...args: unknown[]) => unknown;
interface HookedManager extends Omit<ContextManager, 'with'> {
  with: WithFn;
  [HOOKED]?: { original: WithFn; wrapper: WithFn; owner: ContextHook };
}

export interface ContextHookOptions {
  /** The sample context of a recording span (created on first sight). */
  sampleContextOf(span: Span): SampleContext;
  /** How the span reaches the sampler (see HandOffMode). */
  handOff: HandOffMode;
}

function globalContextManager(): HookedManager | undefined {
  const globals = (globalThis as Record<symbol, { context?: HookedManager } | undefined>)[API_GLOBALS];
  return globals?.context;
}

/**
 * Hands the active OpenTelemetry span over to the sampler at every context switch, through the global context
 * manager (its `with()` is what `context.with`, `startActiveSpan` and `bind` all go through).
 * - `context-store` (AsyncContextFrame): an `AsyncLocalStorageContextManager` keeps its contexts in the sampler's
 *   storage, one holder per context (context-store-hook.ts): a switch costs what it costs without a profiler.
 *   Any other manager's `with()` runs inside one `run` of that storage.
 * - `run-with-context` (AsyncContextFrame, the addon's internals absent): `with()` runs inside the public
 *   `time.runWithContext`, a second `run` and a new holder per switch.
 * - `async-hooks`: `with()` sets the context for its synchronous extent, and an async_hooks `before` hook sets
 *   it again when each async callback runs (and `after` clears it): correct, but paid per callback.
 */
export class ContextHook {
  private manager: HookedManager | undefined;
  private asyncHook: AsyncHook | undefined;
  private current: object = NO_SPAN;
  /** Contexts of the async callbacks we are nested in (before/after come in pairs, and may nest). */
  private readonly outer: object[] = [];
  private active = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private setGlobalWrapper: ContextAPI['setGlobalContextManager'] | undefined;
  private restoreSetGlobal: (() => void) | undefined;
  private holders: ContextHolders | undefined;
  /** The store of a context (context-store hand-off): holders while active. */
  private storeOf: StoreOf = plainStore;
  private storePatch: StorePatch | undefined;

  constructor(private readonly options: ContextHookOptions) {}

  get installed(): boolean {
    return this.manager !== undefined;
  }

  /**
   * Starts handing spans over: now if a global context manager is registered, else when one is. The
   * context-store hand-off needs the running sampler's holders.
   */
  enable(holders?: ContextHolders): void {
    if (this.active) return;
    if (this.options.handOff === 'context-store') {
      if (holders === undefined) throw new Error('the context-store hand-off needs the sampler\'s context holders');
      this.holders = holders;
      this.storeOf = holderStoreOf(holders, (ctx) => {
        const sampleContext = this.sampleContextFor(ctx);
        return sampleContext === NO_SPAN ? undefined : sampleContext;
      });
    }
    this.active = true;
    this.installOnGlobal();
    // An SDK started after the profiler registers its context manager later: catch that moment.
    const original = contextApi.setGlobalContextManager;
    const ownProperty = Object.hasOwn(contextApi, 'setGlobalContextManager');
    // ContextAPI's method lives on its prototype: deleting our own property restores it.
    this.restoreSetGlobal = ownProperty
      ? () => (contextApi.setGlobalContextManager = original)
      : () => delete (contextApi as Partial<ContextAPI>).setGlobalContextManager;
    const hook = this;
    this.setGlobalWrapper = function setGlobalContextManager(this: ContextAPI, manager: ContextManager): boolean {
      const registered = original.call(this, manager);
      if (hook.active) hook.installOnGlobal();
      return registered;
    };
    contextApi.setGlobalContextManager = this.setGlobalWrapper;
    // Another copy of @opentelemetry/api (the ESM build beside a CommonJS one, say) registers through a
    // ContextAPI we cannot wrap: look for its manager every 10 ms for 10 s, then every second.
    if (!this.installed) this.poll(Date.now());
  }

  private poll(startMillis: number): void {
    const delayMillis = Date.now() - startMillis < 10_000 ? 10 : 1_000;
    this.pollTimer = setTimeout(() => {
      if (this.active && !this.installOnGlobal()) this.poll(startMillis);
    }, delayMillis);
    this.pollTimer.unref();
  }

  /** Stops handing over; every wrapper left behind becomes a plain pass-through. */
  disable(): void {
    if (!this.active) return;
    this.active = false;
    // Unless someone wrapped it again since: then our wrapper stays, inert.
    if (contextApi.setGlobalContextManager === this.setGlobalWrapper) this.restoreSetGlobal?.();
    this.setGlobalWrapper = undefined;
    clearTimeout(this.pollTimer);
    this.asyncHook?.disable();
    this.asyncHook = undefined;
    if (this.storePatch?.storeOf === this.storeOf) this.storePatch.storeOf = plainStore;
    this.storePatch = undefined;
    this.storeOf = plainStore;
    this.holders = undefined;
    const manager = this.manager;
    this.manager = undefined;
    if (manager?.[HOOKED] && manager.with === manager[HOOKED].wrapper) {
      delete (manager as Partial<HookedManager>).with;
      if (manager.with !== manager[HOOKED].original) manager.with = manager[HOOKED].original;
      delete manager[HOOKED];
    }
    this.set(NO_SPAN);
  }

  /** Installs on the global context manager if there is one (idempotent). */
  installOnGlobal(): boolean {
    const manager = globalContextManager();
    if (!this.active || !manager) return false;
    if (manager === this.manager) return true;
    if (this.holders !== undefined && isStorageManager(manager as ContextManager)) {
      this.storePatch = patchStorageManager(manager as never, this.holders.storage);
      this.storePatch.storeOf = this.storeOf;
      this.manager = manager;
      return true;
    }
    const hooked = manager[HOOKED];
    if (hooked && hooked.owner !== this) return false; // another copy of the profiler hands spans over on it
    if (hooked) {
      // Our wrapper, left in place under someone else's: it works again now that we are active.
      this.manager = manager;
      if (this.options.handOff === 'async-hooks') this.enableAsyncHook(manager);
      return true;
    }
    const original = manager.with;
    manager[HOOKED] = { original, wrapper: this.wrap(original), owner: this };
    manager.with = manager[HOOKED].wrapper;
    this.manager = manager;
    if (this.options.handOff === 'async-hooks') this.enableAsyncHook(manager);
    return true;
  }

  private wrap(original: WithFn): WithFn {
    if (this.options.handOff === 'context-store') return this.storeWith(original);
    return this.options.handOff === 'run-with-context' ? this.cpedWith(original) : this.fallbackWith(original);
  }

  /** Context store, a manager we cannot patch: its `with()` inside one `run` of the sampler's storage. */
  private storeWith(original: WithFn): WithFn {
    const hook = this;
    return function withStoreAround(this: ContextManager, ctx, fn, thisArg, ...args) {
      const storage = hook.holders?.storage;
      // Inactive (after stop()): a pure pass-through, nothing of ours runs on the context.
      if (!hook.active || storage === undefined) return original.call(this, ctx, fn, thisArg, ...args);
      const store = hook.storeOf(ctx);
      if (storage.getStore() === store) return original.call(this, ctx, fn, thisArg, ...args);
      return storage.run(store, () => original.call(this, ctx, fn, thisArg, ...args));
    };
  }

  private sampleContextFor(ctx: Context): object {
    const span = trace.getSpan(ctx);
    if (span === undefined || !span.isRecording()) return NO_SPAN;
    return this.options.sampleContextOf(span);
  }

  private cpedWith(original: WithFn): WithFn {
    const hook = this;
    return function withSampleContext(this: ContextManager, ctx, fn, thisArg, ...args) {
      if (!hook.active || !timeBindings.isStarted()) return original.call(this, ctx, fn, thisArg, ...args);
      const target = hook.sampleContextFor(ctx);
      if (target === timeBindings.getContext()) return original.call(this, ctx, fn, thisArg, ...args);
      return timeBindings.runWithContext(target, () => original.call(this, ctx, fn, thisArg, ...args));
    };
  }

  private fallbackWith(original: WithFn): WithFn {
    const hook = this;
    return function withSampleContext(this: ContextManager, ctx, fn, thisArg, ...args) {
      if (!hook.active) return original.call(this, ctx, fn, thisArg, ...args);
      const target = hook.sampleContextFor(ctx);
      const previous = hook.current;
      if (target === previous) return original.call(this, ctx, fn, thisArg, ...args);
      hook.set(target);
      try {
        return original.call(this, ctx, fn, thisArg, ...args);
      } finally {
        hook.set(previous);
      }
    };
  }

  private enableAsyncHook(manager: HookedManager): void {
    this.asyncHook?.disable();
    this.outer.length = 0;
    this.asyncHook = createHook({
      before: () => {
        // Unbalanced pairs (a callback that threw) must not grow this without bound.
        if (this.outer.length < 1024) this.outer.push(this.current);
        this.set(this.sampleContextFor(manager.active()));
      },
      after: () => this.set(this.outer.pop() ?? NO_SPAN),
    }).enable();
  }

  private set(target: object): void {
    if (target === this.current) return;
    this.current = target;
    if (timeBindings.isStarted()) timeBindings.setContext(target);
  }
}
