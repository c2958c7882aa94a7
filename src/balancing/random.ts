import type { Strategy } from './strategy.js';

/** Uniform choice; the baseline every load-aware strategy has to beat. */
export const random: Strategy = (candidates, _snapshot, ctx) =>
  candidates.length === 0 ? undefined : candidates[Math.floor(ctx.random() * candidates.length)];
