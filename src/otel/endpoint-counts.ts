/** Most distinct endpoints counted in one period; the rest are counted under `(other)`. */
const MAX_ENDPOINTS = 1000;

/** Finished local-root server spans per endpoint, for event.json's `endpoint_counts`. */
export class EndpointCounts {
  private counts = new Map<string, number>();

  /** Counts one; true when the endpoint is the period's first of its name (checks about it need run only then). */
  count(endpoint: string): boolean {
    const key = this.counts.has(endpoint) || this.counts.size < MAX_ENDPOINTS ? endpoint : '(other)';
    const seen = this.counts.get(key);
    this.counts.set(key, (seen ?? 0) + 1);
    return seen === undefined;
  }

  /** This period's counts; the next period starts from zero. */
  take(): Record<string, number> {
    const taken = Object.fromEntries(this.counts);
    this.counts = new Map();
    return taken;
  }
}
