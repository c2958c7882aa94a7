import { pickLowest } from './least.js';
import { effectiveLoad, type Strategy } from './strategy.js';

/**
 * By capacity: the lowest fill ratio (load / maxConnections), so a 300-connection server
 * takes three times what a 100-connection one does. Servers without a limit count as an
 * average one (the mean of the known limits, or 1 if none is known).
 */
export const weighted: Strategy = (candidates, _snapshot, ctx) => {
  let sum = 0;
  let known = 0;
  for (const s of candidates) {
    if (s.maxConnections !== undefined) {
      sum += s.maxConnections;
      known++;
    }
  }
  const mean = known > 0 ? sum / known : 0;
  // A zero mean (every known limit is 0) would divide by zero; those servers are full anyway.
  const fallback = mean > 0 ? mean : 1;
  const open = candidates.filter((s) => s.maxConnections === undefined || effectiveLoad(s, ctx) < s.maxConnections);
  return pickLowest(open, (s) => effectiveLoad(s, ctx) / (s.maxConnections ?? fallback), ctx.random);
};
