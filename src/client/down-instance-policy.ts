/** How long a server that failed repeatedly is left out of picks. */
export const DEFAULT_QUARANTINE_MS = 10_000;
/** Failures within the window that put a server in quarantine. */
export const DEFAULT_FAILURES_TO_QUARANTINE = 2;
/** Failures older than this are forgotten. */
export const DEFAULT_FAILURE_WINDOW_MS = 30_000;

export interface DownInstancePolicyOptions {
  /** @default DEFAULT_QUARANTINE_MS (10000) */
  quarantineMs?: number;
  /** @default DEFAULT_FAILURES_TO_QUARANTINE (2) */
  failures?: number;
  /** @default DEFAULT_FAILURE_WINDOW_MS (30000) */
  windowMs?: number;
  now?: () => number;
}

/**
 * Curator's DownInstancePolicy: a server that fails `failures` times within `windowMs` is
 * quarantined for `quarantineMs`. Shared by all clients of a process so one client's
 * bad experience spares the others.
 */
export class DownInstancePolicy {
  private readonly failuresByName = new Map<string, number[]>();
  private readonly until = new Map<string, number>();
  private readonly quarantineMs: number;
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(opts: DownInstancePolicyOptions = {}) {
    this.quarantineMs = opts.quarantineMs ?? DEFAULT_QUARANTINE_MS;
    this.threshold = Math.max(1, opts.failures ?? DEFAULT_FAILURES_TO_QUARANTINE);
    this.windowMs = opts.windowMs ?? DEFAULT_FAILURE_WINDOW_MS;
    this.now = opts.now ?? Date.now;
  }

  fail(name: string): void {
    const t = this.now();
    const recent = (this.failuresByName.get(name) ?? []).filter((f) => t - f < this.windowMs);
    recent.push(t);
    if (recent.length >= this.threshold) {
      this.until.set(name, t + this.quarantineMs);
      this.failuresByName.delete(name);
    } else {
      this.failuresByName.set(name, recent);
    }
  }

  succeed(name: string): void {
    this.failuresByName.delete(name);
    this.until.delete(name);
  }

  isQuarantined = (name: string): boolean => {
    const u = this.until.get(name);
    if (u === undefined) return false;
    if (this.now() >= u) {
      this.until.delete(name);
      return false;
    }
    return true;
  };

  /** Failed within the window (or is quarantined): its other clients are likely losing it too. */
  hasFailed = (name: string): boolean => {
    if (this.isQuarantined(name)) return true;
    const t = this.now();
    return (this.failuresByName.get(name) ?? []).some((f) => t - f < this.windowMs);
  };

  get quarantined(): string[] {
    return [...this.until.keys()].filter((n) => this.isQuarantined(n));
  }
}
