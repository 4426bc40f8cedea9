import { diag, type DiagLogger } from '@opentelemetry/api';

const NAMESPACE = 'blackfire-otel-profiler';

let logger: DiagLogger | undefined;

const LEVELS = ['error', 'warn', 'info', 'debug', 'verbose'] as const;

/**
 * The profiler's component logger (created on first use, not at import time). A logger that throws (its stream
 * closed, say) costs that line, never the profiler or the application.
 */
export function profilerDiag(): DiagLogger {
  if (logger === undefined) {
    const component = diag.createComponentLogger({ namespace: NAMESPACE });
    const guarded = {} as DiagLogger;
    for (const level of LEVELS) {
      guarded[level] = (message: string, ...args: unknown[]): void => {
        try {
          component[level](message, ...args);
        } catch {
          // the line is lost
        }
      };
    }
    logger = guarded;
  }
  return logger;
}

/**
 * Logs each kind of failure once per `intervalMillis`, with how many times it happened since the last
 * line: runtime faults (agent down, slow, refusing) give one line per kind, not one per occurrence.
 */
export class RateLimitedLog {
  private readonly lastMillis = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  constructor(private readonly intervalMillis = 60_000, private readonly now: () => number = Date.now) {}

  warn(kind: string, message: string): void {
    this.report('warn', kind, message);
  }

  error(kind: string, message: string): void {
    this.report('error', kind, message);
  }

  private report(level: 'warn' | 'error', kind: string, message: string): void {
    const now = this.now();
    const last = this.lastMillis.get(kind);
    if (last !== undefined && now - last < this.intervalMillis) {
      this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
      return;
    }
    const repeated = this.suppressed.get(kind) ?? 0;
    this.suppressed.delete(kind);
    this.lastMillis.set(kind, now);
    profilerDiag()[level](repeated > 0 ? `${message} (and ${repeated} more since the last report)` : message);
  }

  /** Forgets every kind, so the next failure is reported at once (after a success, say). */
  clearAll(): void {
    this.lastMillis.clear();
    this.suppressed.clear();
  }
}
