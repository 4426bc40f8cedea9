// Its own module: the package's entry exports it without pulling in the sampler's types.
/**
 * Set on every local root span while the profiler runs: the span's id as the unsigned decimal number that
 * the `local root span id` label of its samples carries. A trace UI links a span to its profile by filtering
 * the period's wall.pprof on `local root span id` = this value.
 */
export const PROFILE_ATTRIBUTE = 'blackfire.profile.local_root_span_id';
