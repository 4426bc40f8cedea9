import type { Attributes } from '@opentelemetry/api';
import type { Profile } from '../collect/pprof-bindings.js';

/** One period's raw profiles, just collected (collect/ → profile/). */
export interface CollectedPeriod {
  startMillis: number;
  endMillis: number;
  /** Wall and CPU time per stack (`sample/count`, `wall/nanoseconds`, `cpu/nanoseconds`), with span labels. */
  wall: Profile;
  /** Live heap (`inuse_*`) and, on Node >= 26, allocations (`alloc_*`) per stack. */
  space: Profile;
  /** Finished local-root server spans per endpoint during the period. */
  endpointCounts: Record<string, number>;
  /** This process's period number, from 0 (its first upload). */
  sequence?: number | undefined;
  /** The last period of this profiler run (from stop()). */
  final?: boolean | undefined;
}

/** A period ready for any exporter: the profiles and what describes them, in no exporter's format. */
export interface ProfilePeriod extends CollectedPeriod {
  applicationName: string;
  hostname: string;
  /** `PLATFORM_PROJECT`, if set. */
  projectId: string | undefined;
  /** The selected resource attributes, then the user's labels (which win), as strings. */
  labels: Record<string, string>;
  /** The OpenTelemetry resource's attributes, all of them. */
  resource: Attributes;
  processStartMillis: number;
  probeVersion: string;
  /** The profiler's settings, for the record (sampling frequency, period, hand-off...). */
  settings: Record<string, unknown>;
  /** Aborted once the profiler is stopping: exporters then stop retrying a peer that is not there. */
  stopping?: AbortSignal | undefined;
}
