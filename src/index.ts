export { Profiler, type ProfilerStats } from './profiler.js';
export { type ProfilerOptions } from './config.js';
export { ProfilerConfigError } from './config-error.js';
export { ProfilerSpanProcessor } from './otel/span-processor.js';
export { DEFAULT_RESOURCE_LABELS } from './otel/resource.js';
export { PROFILE_ATTRIBUTE } from './otel/otel-bridge.js';
