export interface UploadQueueOptions<T> {
  /** Most items waiting (not counting the one being sent); the oldest is dropped first. */
  maxPending: number;
  /** Sends one item; must not throw. `deadlineMillis` (epoch ms) is set while the queue is draining. */
  send: (item: T, deadlineMillis: number) => Promise<unknown>;
  /** Told each time items are dropped, with the total dropped so far. */
  onDrop: (droppedNow: number, droppedTotal: number, reason: 'backlog full' | 'stop deadline') => void;
}

/** A bounded backlog with at most one send in flight. */
export class UploadQueue<T> {
  private readonly pending: T[] = [];
  private inFlight: Promise<void> | undefined;
  private deadlineMillis = Infinity;
  private droppedTotal = 0;

  constructor(private readonly options: UploadQueueOptions<T>) {}

  get dropped(): number {
    return this.droppedTotal;
  }

  get size(): number {
    return this.pending.length + (this.inFlight ? 1 : 0);
  }

  push(item: T): void {
    this.pending.push(item);
    if (this.pending.length > this.options.maxPending) {
      this.pending.shift();
      this.drop(1, 'backlog full');
    }
    this.inFlight ??= this.run();
  }

  /**
   * Resolves once everything queued is sent, or at `deadlineMillis`, dropping (and counting) what is left.
   * Sends made meanwhile are bounded by the deadline too. The deadline timer is not unref'd: whoever awaits
   * the drain (`stop()`, `flush()`) gets its answer even when nothing else keeps the process alive.
   */
  async drain(deadlineMillis: number): Promise<void> {
    this.deadlineMillis = Math.min(this.deadlineMillis, deadlineMillis);
    try {
      const remaining = deadlineMillis - Date.now();
      if (this.inFlight && remaining > 0) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, remaining);
        });
        await Promise.race([this.inFlight, deadline]);
        clearTimeout(timer);
      }
      if (this.pending.length > 0) this.drop(this.pending.splice(0).length, 'stop deadline');
    } finally {
      this.deadlineMillis = Infinity;
    }
  }

  private drop(count: number, reason: 'backlog full' | 'stop deadline'): void {
    this.droppedTotal += count;
    try {
      this.options.onDrop(count, this.droppedTotal, reason);
    } catch {
      // A callback that throws (a broken logger, say) must not stop the queue.
    }
  }

  /** Sends one item after another; whatever a send does (even reject), the queue goes on and clears `inFlight`. */
  private async run(): Promise<void> {
    try {
      for (let item = this.pending.shift(); item !== undefined; item = this.pending.shift()) {
        try {
          await this.options.send(item, this.deadlineMillis);
        } catch {
          // `send` must not throw; if it does, that item is lost, not the queue.
        }
      }
    } finally {
      this.inFlight = undefined;
    }
  }
}
