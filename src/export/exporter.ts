import type { ProfilePeriod } from '../profile/period.js';

export type ExportResult =
  | { code: 'success'; attempts: number }
  | { code: 'failure'; attempts: number; kind: string; message: string };

/**
 * Where periods go, shaped like OpenTelemetry's SpanExporter. `export` never throws: it resolves with a result
 * by `deadlineMillis` (epoch ms), and reports failures through diag itself. The profiler gives every exporter
 * its own bounded queue, so a slow one never delays the others.
 */
export interface ProfileExporter {
  /** Short, for stats and diag: `blackfire`, `file`, `otlp`. */
  readonly name: string;
  export(period: ProfilePeriod, deadlineMillis: number): Promise<ExportResult>;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
