import { diag, type DiagLogger } from '@opentelemetry/api';

const NAMESPACE = 'blackfire-otel-profiler';

let logger: DiagLogger | undefined;

const LEVELS = ['error', 'warn', 'info', 'debug', 'verbose'] as const;

/** The OpenTelemetry API's global registry (the one `diag.setLogger` writes to, API 1.x). */
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** Whether anyone registered a diag logger (`diag.setLogger`, or NodeSDK with `OTEL_LOG_LEVEL`). */
export function diagLoggerRegistered(): boolean {
  const api = (globalThis as Record<symbol, { diag?: unknown } | undefined>)[OTEL_API_GLOBAL];
  return api?.diag !== undefined;
}

const shownOnStderr = new Set<string>();

/**
 * With no diag logger at all, a warning or an error would be lost: the first of each kind is written to stderr
 * once (per process), as users of OpenTelemetry's own exporters expect to notice a failing export.
 */
function fallbackToStderr(level: 'warn' | 'error', message: string): void {
  const kind = `${level}:${message.replace(/\d+/g, '#').slice(0, 80)}`;
  if (shownOnStderr.has(kind) || shownOnStderr.size >= 100) return;
  shownOnStderr.add(kind);
  try {
    process.stderr.write(`${NAMESPACE} ${level}: ${message} (shown once; no OpenTelemetry diag logger is registered: set OTEL_LOG_LEVEL or call diag.setLogger to see every line)\n`);
  } catch {
    // stderr closed: the line is lost
  }
}

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
        if ((level === 'warn' || level === 'error') && !diagLoggerRegistered()) return fallbackToStderr(level, message);
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
