import { effectiveLoad, type Strategy } from './strategy.js';

/**
 * Power of two choices: the less loaded of two random candidates. Nearly as even as least
 * while tolerating stale loads, because the randomness spreads concurrent pickers apart.
 */
export const p2c: Strategy = (candidates, _snapshot, ctx) => {
  const n = candidates.length;
  if (n <= 1) return candidates[0];
  const i = Math.floor(ctx.random() * n);
  // Draw from the n-1 others and skip over i, so the two are distinct without retrying.
  let j = Math.floor(ctx.random() * (n - 1));
  if (j >= i) j++;
  const a = candidates[i];
  const b = candidates[j];
  const la = effectiveLoad(a, ctx);
  const lb = effectiveLoad(b, ctx);
  if (la !== lb) return la < lb ? a : b;
  return ctx.random() < 0.5 ? a : b;
};
