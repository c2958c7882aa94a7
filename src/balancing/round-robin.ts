import type { Strategy } from './strategy.js';

/** Ignores load entirely; useful as a baseline and when all servers are identical. */
export const roundRobin: Strategy = (candidates, _snapshot, ctx) =>
  candidates.length === 0 ? undefined : candidates[ctx.sequence % candidates.length];
