// Its own module, with no imports: the public types (ProfilerStats) name it without pulling in node:async_hooks.
/**
 * How the active span reaches the sampler:
 * - `context-store`: the context manager's storage is the sampler's CPED key (one `AsyncLocalStorage.run` per switch);
 * - `run-with-context`: the public API's `time.runWithContext` inside the context manager's `with()`;
 * - `async-hooks`: no AsyncContextFrame (Node 20, 22 without the flag): `time.setContext` at every async callback.
 */
export type HandOffMode = 'context-store' | 'run-with-context' | 'async-hooks';
