// The receipts a users driver counts for one measurement: `expect` starts a window of n messages,
// `receipts` resolves once they arrived (or at the timeout) with how many and when the last did.
import { sharedClockMs } from './shared-clock.js';

let received = 0;
let lastAt = 0;
let expected: number | undefined;
let arrived: (() => void) | undefined;

/** One message arrived. */
export function countReceipt(): void {
  received++;
  lastAt = sharedClockMs();
  if (expected !== undefined && received >= expected) arrived?.();
}

/** The driver's `expect` and `receipts` requests (serveRequests handlers). */
export const receiptRequests = {
  /** Starts counting afresh for `n` messages; returns how many beyond its `n` the previous window received. */
  expect(m: Record<string, unknown>): number {
    const extra = expected === undefined ? 0 : Math.max(0, received - expected);
    received = 0;
    lastAt = 0;
    expected = m.n as number;
    return extra;
  },
  /** Resolves once the window's `n` messages arrived (or at `timeoutMs`): how many, and when the last did. */
  async receipts(m: Record<string, unknown>): Promise<{ received: number; lastAt: number }> {
    if (received < expected!) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, m.timeoutMs as number);
        arrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      arrived = undefined;
    }
    return { received, lastAt };
  },
};
