import { InvalidArgumentError } from '../errors.js';

/**
 * A server's live connection count: the truth, kept locally and changed synchronously. No
 * ZooKeeper here; whoever publishes it subscribes with onChange.
 */
export class BalanceCounter {
  private current = 0;
  private readonly listeners = new Set<() => void>();
  /** increase/decrease/set calls that changed the value. */
  events = 0;

  get value(): number {
    return this.current;
  }

  increase(step = 1): void {
    this.change(step);
  }

  decrease(step = 1): void {
    this.change(-step);
  }

  /** Sets the absolute count (e.g. from a heartbeat); no event when it is unchanged. */
  set(value: number): void {
    if (!Number.isInteger(value) || value < 0) throw InvalidArgumentError.format('balance', `must be a non-negative integer, got ${value}`);
    if (value === this.current) return;
    this.current = value;
    this.events++;
    this.notify();
  }

  /** Calls `fn` after every change; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private change(delta: number): void {
    if (!Number.isInteger(delta) || delta === 0) throw InvalidArgumentError.format('step', `must be a non-zero integer, got ${delta}`);
    if (this.current + delta < 0) throw InvalidArgumentError.format('decrease', `would make the balance negative (${this.current}${delta})`);
    this.current += delta;
    this.events++;
    this.notify();
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}
