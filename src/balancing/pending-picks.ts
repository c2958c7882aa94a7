import { InvalidArgumentError } from '../errors.js';
import type { Snapshot } from '../discovery/snapshot.js';

/** How long an unreported pick counts; past it the client most likely never connected. */
export const DEFAULT_PENDING_TTL_MS = 5_000;

export interface PendingPicksOptions {
  /**
   * Age after which a pick no longer counts.
   * @default DEFAULT_PENDING_TTL_MS (5000)
   */
  ttlMs?: number;
  /**
   * Clock for pick timestamps; `expire(now)` must be given times on the same clock.
   * @default Date.now
   */
  now?: () => number;
}

/**
 * Picks this process made that the servers have not reported yet. Without them every pick
 * from one snapshot sees the same loads, so a busy process herds onto one server until the
 * next snapshot. Memory is bounded: per server a FIFO of timestamps, trimmed by reports,
 * expiry and disappearance.
 */
export class PendingPicks {
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Pick timestamps per server, oldest first. Never holds an empty queue. */
  private readonly queues = new Map<string, number[]>();
  /** Queue lengths, kept alongside so strategies read a plain map. */
  private readonly counts = new Map<string, number>();
  /** Balance each server reported in the last observed snapshot. */
  private readonly lastBalance = new Map<string, number>();
  private total = 0;

  constructor(options: PendingPicksOptions = {}) {
    const ttlMs = options.ttlMs ?? DEFAULT_PENDING_TTL_MS;
    if (!(ttlMs > 0)) throw InvalidArgumentError.format('ttlMs', `must be positive, got ${ttlMs}`);
    this.ttlMs = ttlMs;
    this.now = options.now ?? Date.now;
  }

  /** Records one pick of `name`. */
  add(name: string): void {
    const now = this.now();
    const q = this.queues.get(name) ?? [];
    // Trim this server's expired head here too, so memory stays bounded even if expire() is never called.
    this.shift(q, countOlder(q, now - this.ttlMs));
    q.push(now);
    this.total++;
    this.queues.set(name, q);
    this.counts.set(name, q.length);
  }

  /**
   * Reconciles with what the servers report: a rise in a server's balance means that many
   * of our picks (oldest first) have connected and are now counted by the server itself.
   * Feed snapshots in the order they were taken.
   */
  observe(snapshot: Snapshot): void {
    const live = new Set<string>();
    for (const s of snapshot.servers) {
      live.add(s.name);
      const prev = this.lastBalance.get(s.name);
      this.lastBalance.set(s.name, s.balance);
      const q = this.queues.get(s.name);
      if (prev !== undefined && q && s.balance > prev) this.drop(s.name, q, s.balance - prev);
    }
    for (const name of this.lastBalance.keys()) if (!live.has(name)) this.lastBalance.delete(name);
    // A server that is gone takes its picks with it: they can never be reported.
    for (const [name, q] of this.queues) if (!live.has(name)) this.drop(name, q, q.length);
  }

  /** Drops picks older than the TTL at `now` (same clock as the `now` option). */
  expire(now: number = this.now()): void {
    const cutoff = now - this.ttlMs;
    for (const [name, q] of this.queues) this.drop(name, q, countOlder(q, cutoff));
  }

  /** Forgets one pick of `name`, e.g. because connecting to it failed. */
  release(name: string): void {
    const q = this.queues.get(name);
    if (!q) return;
    q.pop(); // the failed pick is most likely the newest one
    this.total--;
    this.settle(name, q);
  }

  /** Pending picks per server; a live view, only servers with at least one. */
  get view(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** Pending picks over all servers. */
  get size(): number {
    return this.total;
  }

  /** Removes the `n` oldest picks of `name` (at most all of them). */
  private drop(name: string, q: number[], n: number): void {
    if (n <= 0) return;
    this.shift(q, n);
    this.settle(name, q);
  }

  private shift(q: number[], n: number): void {
    const k = Math.min(n, q.length);
    if (k <= 0) return;
    q.splice(0, k);
    this.total -= k;
  }

  /** Brings `counts` in line with the queue, forgetting the server once it has none. */
  private settle(name: string, q: readonly number[]): void {
    if (q.length > 0) {
      this.counts.set(name, q.length);
    } else {
      this.queues.delete(name);
      this.counts.delete(name);
    }
  }
}

/** How many leading timestamps are before cutoff; the queue is in pick order, so they are the head. */
function countOlder(q: readonly number[], cutoff: number): number {
  let n = 0;
  while (n < q.length && q[n] < cutoff) n++;
  return n;
}
