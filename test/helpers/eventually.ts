/** How long `eventually` polls before giving up. @default 10_000 */
export const DEFAULT_EVENTUALLY_TIMEOUT_MS = 10_000;
/** Pause between two polls. @default 25 */
export const DEFAULT_EVENTUALLY_EVERY_MS = 25;

/**
 * Polls `fn` until it returns true or the time runs out; returns whether it became true.
 * Tests assert on the result (`assert.ok(await eventually(...), 'what')`), so a timeout fails
 * with the test's own message.
 */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = DEFAULT_EVENTUALLY_TIMEOUT_MS, everyMs = DEFAULT_EVENTUALLY_EVERY_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Like `eventually`, but resolves with the time (epoch ms) `fn` first was true; undefined on timeout. */
export async function whenTrue(fn: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 10): Promise<number | undefined> {
  let at: number | undefined;
  await eventually(async () => (await fn()) && (at = Date.now()) !== undefined, timeoutMs, everyMs);
  return at;
}

/** Whether `p` resolves within `timeoutMs` (a rejection is rethrown); for asserting that something finishes without hanging the test. */
export async function resolvesWithin(p: Promise<unknown>, timeoutMs = DEFAULT_EVENTUALLY_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
