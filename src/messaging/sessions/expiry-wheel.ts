/** How often the wheel looks for expired entries: kicks land within this after their time. */
export const EXPIRY_SWEEP_MS = 1_000;

/**
 * When logged-in connections' tokens run out, kept without a timer per connection: entries sit in
 * one bucket per second of their deadline, and one interval per server (running only while the
 * wheel holds anything) hands every bucket that is due to `expire`.
 */
export class ExpiryWheel<T extends object> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly slotOf = new WeakMap<T, number>();
  private timer: NodeJS.Timeout | undefined;
  private size = 0;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** `item` expires at `deadline` (epoch ms), replacing any earlier deadline. */
  set(item: T, deadline: number): void {
    this.delete(item);
    const slot = Math.ceil(deadline / EXPIRY_SWEEP_MS);
    let bucket = this.buckets.get(slot);
    if (!bucket) this.buckets.set(slot, (bucket = new Set()));
    bucket.add(item);
    this.slotOf.set(item, slot);
    this.size++;
    this.timer ??= setInterval(() => this.sweep(), EXPIRY_SWEEP_MS).unref();
  }

  delete(item: T): void {
    const slot = this.slotOf.get(item);
    if (slot === undefined) return;
    this.slotOf.delete(item);
    const bucket = this.buckets.get(slot)!;
    bucket.delete(item);
    if (bucket.size === 0) this.buckets.delete(slot);
    if (--this.size === 0) this.stop();
  }

  /** Expires everything due now (the interval calls it). */
  sweep(): void {
    const due = Math.floor(this.now() / EXPIRY_SWEEP_MS);
    for (const [slot, bucket] of this.buckets) {
      if (slot > due) continue;
      for (const item of bucket) {
        this.delete(item);
        this.expire(item);
      }
    }
  }

  get count(): number {
    return this.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
