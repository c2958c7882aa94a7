// Percentile math shared by every benchmark (pure; unit-tested).

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank quantile of an ascending array: the smallest value with at least q·n values at or below it. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

export function quantile(xs: ArrayLike<number>, q: number): number {
  return quantileSorted(Float64Array.from(xs).sort(), q);
}

export function median(xs: ArrayLike<number>): number {
  return quantile(xs, 0.5);
}

export function summarize(xs: ArrayLike<number>): Summary {
  const s = Float64Array.from(xs).sort();
  return { n: s.length, p50: quantileSorted(s, 0.5), p99: quantileSorted(s, 0.99), p999: quantileSorted(s, 0.999), max: s.length ? s[s.length - 1]! : Number.NaN };
}

/** a / b, formatted for the ratio column. */
export function ratio(a: number, b: number): string {
  return b > 0 ? (a / b).toFixed(2) : 'n/a';
}

/**
 * Per-round summaries folded into one: the median of each percentile over the rounds. On a shared
 * machine a burst of foreign load hits a few rounds; this keeps it from deciding the tail.
 */
export function medianOfRounds(rounds: readonly Summary[]): Summary {
  const pick = (k: keyof Summary) => median(rounds.map((r) => r[k]));
  return { n: rounds.reduce((a, r) => a + r.n, 0), p50: pick('p50'), p99: pick('p99'), p999: pick('p999'), max: Math.max(...rounds.map((r) => r.max)) };
}
