import { setTimeout as sleep } from 'node:timers/promises';
import type { ExportResult } from './exporter.js';

/** One attempt's outcome: final (success or a failure not worth retrying), or worth another try. */
export type Attempt = { done: ExportResult } | { retry: { kind: string; message: string; retryAfterMillis?: number | undefined } };

export interface RetryOptions {
  /** Turns a final failure into the result (and reports it). */
  fail(attempts: number, kind: string, message: string): ExportResult;
  /** Who asked to wait, for the message ("the agent", "the collector"). */
  peer: string;
}

/** Failures that mean nobody is listening (no socket file, nothing on the port), as the exporters name them. */
const ABSENT = /^network-(ENOENT|ECONNREFUSED)$/;
const FIRST_BACKOFF_MILLIS = 250;
const MAX_BACKOFF_MILLIS = 2_000;
/** The longest `Retry-After` honoured: beyond it the peer's answer is taken as this. */
const MAX_RETRY_AFTER_MILLIS = 10 * 60_000;

/**
 * Retry and backoff for every exporter: attempts until one is final or the deadline comes, with jittered
 * exponential backoff (250 ms doubling to 2 s). A `Retry-After` (429, 503) is honoured for this upload and the
 * ones after it: no request before it, and if it lies beyond the deadline the upload fails without one.
 */
export class Retrying {
  private notBeforeMillis = 0;

  constructor(private readonly options: RetryOptions) {}

  /**
   * `stopping` (the profiler's stop has begun): a peer that is not there at all (`ENOENT`, `ECONNREFUSED`) is
   * not waited for, so an application exits at once with its agent absent; one that answers keeps the deadline.
   */
  async run(deadlineMillis: number, attempt: (remainingMillis: number, attempt: number) => Promise<Attempt>, timeoutMessage: string, stopping?: AbortSignal): Promise<ExportResult> {
    let lastRetry = { kind: 'timeout', message: timeoutMessage };
    for (let n = 1; ; n++) {
      const wait = this.notBeforeMillis - Date.now();
      if (wait > 0) {
        if (Date.now() + wait >= deadlineMillis) {
          return this.options.fail(n - 1, 'retry-after', `${this.options.peer} asked to wait ${Math.ceil(wait / 1000)} s (Retry-After), beyond this upload's deadline`);
        }
        await sleep(wait, undefined, { ref: false });
      }
      const remaining = deadlineMillis - Date.now();
      if (remaining <= 0) return this.options.fail(n - 1, lastRetry.kind, lastRetry.message);
      const outcome = await attempt(remaining, n);
      if ('done' in outcome) return outcome.done;
      lastRetry = outcome.retry;
      if (stopping?.aborted && ABSENT.test(lastRetry.kind)) return this.options.fail(n, lastRetry.kind, lastRetry.message);
      const backoff = Math.min(FIRST_BACKOFF_MILLIS * 2 ** (n - 1), MAX_BACKOFF_MILLIS) * (0.5 + Math.random() / 2);
      const retryAfter = outcome.retry.retryAfterMillis;
      if (retryAfter !== undefined) {
        this.notBeforeMillis = Date.now() + Math.max(backoff, Math.min(retryAfter, MAX_RETRY_AFTER_MILLIS));
        continue;
      }
      if (Date.now() + backoff >= deadlineMillis) return this.options.fail(n, lastRetry.kind, lastRetry.message);
      // A stop during the backoff wakes it: the next attempt is the last if the peer is still absent.
      await sleep(backoff, undefined, { ref: false, signal: ABSENT.test(lastRetry.kind) ? stopping : undefined }).catch(() => {});
    }
  }
}
