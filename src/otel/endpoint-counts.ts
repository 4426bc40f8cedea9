/** Most distinct endpoints counted in one period; the rest are counted under `(other)`. */
const MAX_ENDPOINTS = 1000;

/** Finished local-root server spans per endpoint, for event.json's `endpoint_counts`. */
export class EndpointCounts {
  private counts = new Map<string, number>();

  count(endpoint: string): void {
    const key = this.counts.has(endpoint) || this.counts.size < MAX_ENDPOINTS ? endpoint : '(other)';
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** This period's counts; the next period starts from zero. */
  take(): Record<string, number> {
    const taken = Object.fromEntries(this.counts);
    this.counts = new Map();
    return taken;
  }
}
