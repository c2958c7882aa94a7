import { ACCEPT_RATE_WINDOW_MS } from '../server-data.js';

/** Buckets per window: fine enough that the rate falls smoothly, coarse enough to cost nothing. */
const BUCKETS = 25;

/**
 * Accepted connections per second over a sliding window, in fixed-size buckets so a burst of
 * thousands of accepts costs no memory.
 */
export class AcceptRateMeter {
  private readonly bucketMs: number;
  private readonly counts = new Float64Array(BUCKETS);
  /** Bucket index (time / bucketMs) each slot was last used for. */
  private readonly slots = new Float64Array(BUCKETS).fill(-1);

  constructor(
    private readonly windowMs = ACCEPT_RATE_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = windowMs / BUCKETS;
  }

  record(): void {
    const b = Math.floor(this.now() / this.bucketMs);
    const i = b % BUCKETS;
    if (this.slots[i] !== b) {
      this.slots[i] = b;
      this.counts[i] = 0;
    }
    this.counts[i]++;
  }

  /** Accepts per second over the window ending now. */
  perSecond(): number {
    const b = Math.floor(this.now() / this.bucketMs);
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) if (this.slots[i] > b - BUCKETS) n += this.counts[i];
    return (n * 1000) / this.windowMs;
  }
}
