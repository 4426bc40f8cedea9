/**
 * Zero-code start: `node --import blackfire-otel-profiler/register app.mjs` (or `-r` for CommonJS).
 * Builds a Profiler from the environment (BLACKFIRE_*, OTEL_*) and, when `OTEL_CONFIG_FILE` is set, from its
 * `distribution.blackfire` section, and starts it before the application. Spans are tied to samples even
 * when the application starts its own NodeSDK afterwards.
 *
 * Unlike `new Profiler()` in code, this entry never stops the application:
 * - a bad setting logs one error and the application runs unprofiled;
 * - `BLACKFIRE_CONPROF_ENABLED=false` (or `enabled: false` in the config file) makes it a no-op;
 * - SIGTERM and SIGINT make the final upload (within a short bound), then the process ends as it would have;
 * - an ESM application gets OpenTelemetry's loader hook, so that its instrumentations see ESM imports;
 * - in a worker thread, it starts the worker's sampler for the main thread's profiler instead.
 */
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { markStartedBy, Profiler } from './profiler.js';
import { readEnabled, type Environment } from './config.js';
import { readOptionsFromConfigFile, type ConfigFileOptions } from './otel/config-file.js';
import { profilerDiag } from './diag.js';
import { isMainThread } from 'node:worker_threads';
import { startWorkerSampler } from './collect/worker-sampler.js';

const ENTRY = 'blackfire-otel-profiler/register';
/** The longest a SIGTERM or SIGINT waits for the final upload before the process ends as it would have. */
const SIGNAL_FLUSH_MILLIS = 2_000;
const OTEL_ESM_HOOK = '@opentelemetry/instrumentation/hook.mjs';

/** The application's entry point (`process.argv[1]`) is an ES module: `.mjs`, or `.js` under `"type": "module"`. */
function entryIsEsm(entry: string | undefined): boolean {
  if (!entry) return false;
  const ext = path.extname(entry);
  if (ext === '.mjs' || ext === '.mts') return true;
  if (ext === '.cjs' || ext === '.cts') return false;
  for (let dir = path.dirname(path.resolve(entry)); ; dir = path.dirname(dir)) {
    try {
      return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type === 'module';
    } catch {
      if (path.dirname(dir) === dir) return false;
    }
  }
}

/**
 * OpenTelemetry's ESM loader hook (import-in-the-middle), the application's own copy, for an ESM entry point:
 * without it, instrumentations (Express, and every other that patches a package) never see an `import`, and
 * server spans carry no `http.route`. Skipped where the application has no @opentelemetry/instrumentation,
 * where Node has no `module.register`, and with `BLACKFIRE_CONPROF_ESM_HOOK=false` (for apps that register it
 * themselves).
 */
function installOtelEsmHook(env: Environment): void {
  if (!readEnabled(env.BLACKFIRE_CONPROF_ESM_HOOK, 'env BLACKFIRE_CONPROF_ESM_HOOK') || !entryIsEsm(process.argv[1])) return;
  const register = (nodeModule as { register?: (specifier: string | URL, parentURL?: string | URL) => void }).register;
  if (typeof register !== 'function') return;
  let hook: string;
  try {
    hook = nodeModule.createRequire(path.join(process.cwd(), 'noop.js')).resolve(OTEL_ESM_HOOK);
  } catch {
    profilerDiag().debug(`no ${OTEL_ESM_HOOK} from ${process.cwd()}: OpenTelemetry's ESM loader hook not installed`);
    return;
  }
  // Where the runtime runs import-in-the-middle's synchronous hooks (module.registerHooks, in this thread; Node 26
  // deprecates module.register), its own registration, from the copy OpenTelemetry's instrumentation uses.
  try {
    const sync = nodeModule.createRequire(hook)('import-in-the-middle/register-hooks.mjs') as { supportsSyncHooks?: () => boolean; register?: () => void };
    if (sync.supportsSyncHooks?.() && typeof sync.register === 'function') {
      sync.register();
      profilerDiag().debug(`installed OpenTelemetry's ESM hooks (import-in-the-middle, synchronous) for ${hook}`);
      return;
    }
  } catch {
    // an older import-in-the-middle, or no require() of ES modules here: the loader thread below
  }
  register(pathToFileURL(hook));
  profilerDiag().debug(`installed OpenTelemetry's ESM loader hook ${hook}`);
}

/**
 * The final upload on SIGTERM and SIGINT. When the application (or the SDK's own register) listens to the
 * signal too, it decides what happens next and we only flush. When nobody else does, Node would have ended the
 * process: after the flush (at most SIGNAL_FLUSH_MILLIS) the signal is raised again with our listener gone, so
 * the process ends by that signal, as without us. A second signal during the flush ends it at once.
 */
function flushOnSignals(profiler: Profiler): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    let flushing = false;
    const onSignal = (): void => {
      const alone = process.listenerCount(signal) === 1;
      const reRaise = (): void => {
        process.removeListener(signal, onSignal);
        if (alone) process.kill(process.pid, signal);
      };
      if (flushing) return reRaise();
      flushing = true;
      const stopped = profiler.stop();
      if (!alone) return;
      const bound = setTimeout(reRaise, SIGNAL_FLUSH_MILLIS);
      void stopped.then(() => {
        clearTimeout(bound);
        reRaise();
      });
    };
    process.on(signal, onSignal);
  }
}

function startFromEnvironment(env: Environment): Profiler | undefined {
  try {
    if (!readEnabled(env.BLACKFIRE_CONPROF_ENABLED)) return undefined;
    // In a worker thread (it inherits --import/-r): the worker samples itself for the main thread's profiler.
    if (!isMainThread) {
      startWorkerSampler(env);
      return undefined;
    }
    const options = env.OTEL_CONFIG_FILE ? readOptionsFromConfigFile(env.OTEL_CONFIG_FILE, env) : {};
    if (options.enabled === false) return undefined;
    installOtelEsmHook(env);
    const profilerOptions: ConfigFileOptions = { ...options };
    delete profilerOptions.enabled;
    const profiler = new Profiler(profilerOptions);
    markStartedBy(profiler, ENTRY);
    profiler.start();
    flushOnSignals(profiler);
    return profiler;
  } catch (error) {
    // Never the application's failure: it runs, unprofiled, and says why once.
    profilerDiag().error(`not profiling (${ENTRY}): ${(error as Error)?.message ?? String(error)}`);
    return undefined;
  }
}

/** The profiler this entry point started; undefined when it is disabled or its settings are wrong. */
export const profiler: Profiler | undefined = startFromEnvironment(process.env);
