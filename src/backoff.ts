// The one backoff of fulcrum: every retry loop (registrations, watched folders, the session's
// replacement of a dead handle, gateway connects, client re-homing) waits through it.

/** Exponential backoff with jitter: uniform in [base, min(max, base·2^attempt)]; never above max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(baseMs, maxMs);
  const cap = Math.min(maxMs, base * 2 ** attempt);
  return base + random() * Math.max(0, cap - base);
}

export interface BackoffOptions {
  /** First delay (and the lower bound of every delay). */
  baseMs: number;
  /** Upper bound of every delay. */
  maxMs: number;
  /** Let the process exit while a retry waits. @default true */
  unref?: boolean;
}

/**
 * One retry loop's timer and attempt count: `schedule(fn)` runs `fn` after the next backoff delay
 * (one pending retry at a time), `succeeded()` starts the next failure from `baseMs` again.
 */
export class Backoff {
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BackoffOptions) {}

  /** Failures since the last success. */
  get attempt(): number {
    return this.attempts;
  }

  /** True while a retry waits. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** The next delay (counting one more failure), for loops that wait themselves. */
  next(): number {
    return backoffDelay(this.attempts++, this.options.baseMs, this.options.maxMs);
  }

  /** Runs `fn` after the next delay; returns that delay, or undefined when a retry already waits. */
  schedule(fn: () => void): number | undefined {
    if (this.timer) return undefined;
    const delay = this.next();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, delay);
    if (this.options.unref !== false) this.timer.unref();
    return delay;
  }

  /** The operation worked: the next failure waits `baseMs` again. A waiting retry stays scheduled. */
  succeeded(): void {
    this.attempts = 0;
  }

  /** Drops a waiting retry (the owner closes, or retries now itself). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
