import { InvalidArgumentError } from '../errors.js';
import { ACCEPT_RATE_WINDOW_MS } from '../server-data.js';
import { DEFAULT_DEPARTED_MEMORY_MS, type ServerInfo, type Snapshot } from '../discovery/snapshot.js';
import { least } from './least.js';
import { effectiveLoad, type PickContext, type Strategy } from './strategy.js';

/**
 * How long a connection stays invisible to other pickers: the server's write batching (20 ms),
 * the ZooKeeper write, the watch or read that carries it, and the connect itself, with margin
 * for a busy event loop.
 * @default 100
 */
export const DEFAULT_BLIND_WINDOW_MS = 100;

/** A one-shot picture older than this counts as this old: the estimate is rough by then anyway. */
export const MAX_PICTURE_AGE_MS = 1_000;

export interface WaterFillOptions {
  /** @default DEFAULT_BLIND_WINDOW_MS (100) */
  blindWindowMs?: number;
  /** Over this, a departed server's connections stop counting as about to arrive. @default DEFAULT_DEPARTED_MEMORY_MS (5000) */
  departedMemoryMs?: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Picks other pickers are expected to make that this picture does not show yet:
 * - the flow: every server's published accept rate, faded by how old its node was when the picture
 *   was taken (no write means no accept since), minus this picker's own share, over the blind
 *   window plus the picture's age (zero for a live, watch-driven picture);
 * - the displaced: connections of servers this pick avoids although they are listed (draining,
 *   or just lost), and of servers that departed recently (fading over the memory window); their
 *   clients are re-homing now, each picking on its own.
 * This picker's own recent picks count against both: they are already in its pending picks.
 */
export function expectedArrivals(snapshot: Snapshot, ctx: PickContext, opts: WaterFillOptions = {}): number {
  const blindMs = opts.blindWindowMs ?? DEFAULT_BLIND_WINDOW_MS;
  const memoryMs = opts.departedMemoryMs ?? DEFAULT_DEPARTED_MEMORY_MS;
  const now = ctx.now ?? snapshot.at;
  const shownAt = snapshot.live ? now : snapshot.at;
  let rate = 0;
  for (const s of snapshot.servers) {
    if (!s.acceptRate) continue;
    const since = s.updatedAt === undefined ? 0 : clamp(shownAt - s.updatedAt, 0, ACCEPT_RATE_WINDOW_MS);
    rate += s.acceptRate * (1 - since / ACCEPT_RATE_WINDOW_MS);
  }
  const own = ctx.ownRecentPicks ?? 0;
  const windowMs = blindMs + clamp(now - shownAt, 0, MAX_PICTURE_AGE_MS);
  const flow = (Math.max(0, rate - (own * 1000) / ACCEPT_RATE_WINDOW_MS) * windowMs) / 1000;
  let leaving = ctx.displaced ?? 0;
  for (const d of snapshot.departed ?? []) leaving += d.balance * (1 - clamp(now - d.at, 0, memoryMs) / memoryMs);
  return flow + Math.max(0, leaving - own);
}

/** The level L at which filling every load below it up to L takes exactly `amount`. */
export function waterLevel(loads: readonly number[], amount: number): number {
  const sorted = [...loads].sort((a, b) => a - b);
  let sum = 0;
  for (let k = 0; k < sorted.length; k++) {
    sum += sorted[k]!;
    const level = (sum + amount) / (k + 1);
    if (k === sorted.length - 1 || level <= sorted[k + 1]!) return level;
  }
  return amount; // no loads
}

/**
 * Water-filling with an estimate of the picks that land on the same stale picture. If n
 * pickers see the same loads, and each picks server i with probability (L - load_i) / n where
 * L is the level n connections fill the lowest servers up to, then their picks together fill
 * the gaps and the loads meet at L in expectation, where every picker taking the minimum
 * would pile all n on one server. With fewer than one other arrival expected this is `least`.
 */
export function createWaterFillStrategy(opts: WaterFillOptions = {}): Strategy {
  const blind = opts.blindWindowMs ?? DEFAULT_BLIND_WINDOW_MS;
  const memory = opts.departedMemoryMs ?? DEFAULT_DEPARTED_MEMORY_MS;
  if (!(blind >= 0)) throw InvalidArgumentError.format('blindWindowMs', `must be >= 0, got ${blind}`);
  if (!(memory > 0)) throw InvalidArgumentError.format('departedMemoryMs', `must be positive, got ${memory}`);
  const options = { blindWindowMs: blind, departedMemoryMs: memory };
  return (candidates, snapshot, ctx) => {
    if (candidates.length <= 1) return candidates[0];
    const others = expectedArrivals(snapshot, ctx, options);
    if (others < 1) return least(candidates, snapshot, ctx);
    return sampleGaps(candidates, ctx, others + 1);
  };
}

/** Draws one candidate with probability proportional to its gap below the level `arrivals` fill. */
function sampleGaps(candidates: readonly Readonly<ServerInfo>[], ctx: PickContext, arrivals: number): Readonly<ServerInfo> {
  const loads = candidates.map((s) => effectiveLoad(s, ctx));
  const level = waterLevel(loads, arrivals);
  let total = 0;
  const gaps = loads.map((l) => {
    const g = Math.max(0, level - l);
    total += g;
    return g;
  });
  let u = ctx.random() * total;
  for (let i = 0; i < candidates.length; i++) {
    u -= gaps[i]!;
    if (u < 0 && gaps[i]! > 0) return candidates[i]!;
  }
  // Rounding left u just above zero: the last server with a gap.
  for (let i = candidates.length - 1; i >= 0; i--) if (gaps[i]! > 0) return candidates[i]!;
  return candidates[0]!;
}

/** The registered 'water-fill' strategy with the default windows. */
export const waterFill: Strategy = createWaterFillStrategy();
