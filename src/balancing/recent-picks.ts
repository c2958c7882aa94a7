import { ACCEPT_RATE_WINDOW_MS } from '../server-data.js';

/**
 * How many picks this picker made within the last window: the servers' published accept
 * rates include them, and a picker must not mistake its own traffic for other pickers'.
 */
export class RecentPicks {
  private times: number[] = [];
  private head = 0;

  constructor(private readonly windowMs = ACCEPT_RATE_WINDOW_MS) {}

  add(now: number): void {
    this.times.push(now);
  }

  count(now: number): number {
    const cutoff = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.head++;
    // Compact once the dead prefix dominates, so memory stays bounded by one window of picks.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }
}
