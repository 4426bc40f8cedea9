export { Profiler, type ProfilerStats } from './profiler.js';
export { type ProfilerOptions } from './config.js';
export { ProfilerConfigError } from './config-error.js';
