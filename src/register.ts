/**
 * Zero-code start: `node --import blackfire-otel-profiler/register app.js` (or `-r` for CommonJS).
 * Builds a Profiler from the environment (BLACKFIRE_*, OTEL_*) and, when `OTEL_CONFIG_FILE` is set, from its
 * `distribution.blackfire` section, and starts it before the application. Spans are tied to samples even
 * when the application starts its own NodeSDK afterwards.
 */
import { Profiler } from './profiler.js';
import { readOptionsFromConfigFile } from './otel/config-file.js';

function startFromEnvironment(): Profiler {
  const file = process.env.OTEL_CONFIG_FILE;
  const profiler = new Profiler(file ? readOptionsFromConfigFile(file) : {});
  profiler.start();
  return profiler;
}

/** The profiler this entry point started. */
export const profiler: Profiler = startFromEnvironment();
