import type { ServerCache } from '../../discovery/server-cache.js';

export interface BalanceSample {
  /** ms since the recorder started */
  t: number;
  /** balance per server name; a server missing here was not registered at that moment */
  balances: Record<string, number>;
}

export const DEFAULT_SAMPLE_MS = 50;

/** Records every server's balance over time from a watch-driven cache, for plots and timings. */
export class BalanceRecorder {
  readonly samples: BalanceSample[] = [];
  readonly marks: { t: number; label: string }[] = [];
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly onSnapshot = () => this.take();

  constructor(
    private readonly cache: ServerCache,
    private readonly everyMs = DEFAULT_SAMPLE_MS,
  ) {}

  start(): void {
    this.take();
    this.cache.on('snapshot', this.onSnapshot);
    // Also sample on a clock so flat stretches show up as flat lines.
    this.timer = setInterval(() => this.take(), this.everyMs * 4);
  }

  now(): number {
    return Date.now() - this.t0;
  }

  mark(label: string): number {
    const t = this.now();
    this.marks.push({ t, label });
    return t;
  }

  private take(): void {
    const t = this.now();
    const last = this.samples.at(-1);
    const balances: Record<string, number> = {};
    for (const s of this.cache.current().servers) balances[s.name] = s.balance;
    // Within one sampling period keep only the newest picture.
    if (last && t - last.t < this.everyMs && this.samples.length > 1) this.samples[this.samples.length - 1] = { t: last.t, balances };
    else this.samples.push({ t, balances });
  }

  stop(): void {
    this.take();
    clearInterval(this.timer);
    this.cache.off('snapshot', this.onSnapshot);
  }
}
