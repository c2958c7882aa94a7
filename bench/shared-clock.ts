/**
 * Monotonic milliseconds on a clock every process of this machine shares (CLOCK_MONOTONIC), so a
 * time taken in one bench process can be subtracted from one taken in another. `performance.now()`
 * counts from each process's own start.
 */
export function sharedClockMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
