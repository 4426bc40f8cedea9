import { profilerDiag } from '../diag.js';
import { contextStoreUnavailable } from './context-store.js';
import type { HandOffMode } from './hand-off.js';
import { isAsyncContextFrameActive } from './pprof-bindings.js';

/**
 * The fastest span hand-off this runtime allows: the context store on AsyncContextFrame (Node >= 24, or 22 with
 * `--experimental-async-context-frame`) when the addon's internals are what we rely on, else the public API.
 */
export function chooseHandOff(): HandOffMode {
  if (!isAsyncContextFrameActive()) return 'async-hooks';
  const unavailable = contextStoreUnavailable();
  if (unavailable === undefined) return 'context-store';
  profilerDiag().info(`span hand-off through the public @datadog/pprof API (slower per span switch): ${unavailable}`);
  return 'run-with-context';
}
