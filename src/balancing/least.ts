import { effectiveLoad, type PickContext, type Strategy } from './strategy.js';
import type { ServerInfo } from '../discovery/snapshot.js';

/**
 * Picks uniformly among the candidates whose entries score lowest. Shared by least and
 * weighted; random tie-breaking keeps equally loaded servers from all landing on the first.
 */
export function pickLowest(
  candidates: readonly Readonly<ServerInfo>[],
  score: (s: Readonly<ServerInfo>) => number,
  random: () => number,
): Readonly<ServerInfo> | undefined {
  let best = Infinity;
  let ties: Readonly<ServerInfo>[] = [];
  for (const s of candidates) {
    const v = score(s);
    if (v < best) {
      best = v;
      ties = [s];
    } else if (v === best) {
      ties.push(s);
    }
  }
  return ties.length === 0 ? undefined : ties[Math.floor(random() * ties.length)];
}

/**
 * Lowest balance + pending picks. Alone (no pending) it herds: every pick from one
 * stale snapshot lands on the same server until the next snapshot arrives.
 */
export const least: Strategy = (candidates, _snapshot, ctx: PickContext) =>
  pickLowest(candidates, (s) => effectiveLoad(s, ctx), ctx.random);
