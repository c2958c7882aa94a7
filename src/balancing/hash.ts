import { fnvHash } from '../fnv-hash.js';
import { InvalidArgumentError } from '../errors.js';
import { p2c } from './p2c.js';
import type { Strategy } from './strategy.js';
import type { ServerInfo } from '../discovery/snapshot.js';

/** Ring points per server; enough that each server's share stays within a few percent of 1/n. */
export const DEFAULT_VIRTUAL_NODES = 160;

/** How many distinct candidate lists keep a cached ring; the live one is nearly always the newest. */
const RING_CACHE_SIZE = 16;

/**
 * FNV-1a 32-bit over UTF-16 code units, then murmur3's fmix32 finalizer: FNV alone clusters
 * on near-identical inputs like `a#1`, `a#2`, which would bunch a server's ring points.
 */
export function hash32(text: string): number {
  return fnvHash(text);
}

/** Sorted ring points and, at the same index, the position of the owning candidate. */
interface Ring {
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

function buildRing(candidates: readonly Readonly<ServerInfo>[], virtualNodes: number): Ring {
  const entries: { point: number; owner: number; name: string }[] = [];
  candidates.forEach((s, owner) => {
    for (let i = 0; i < virtualNodes; i++) entries.push({ point: hash32(`${s.name}#${i}`), owner, name: s.name });
  });
  // Break point collisions by name so the ring depends on the set of servers, not their order.
  entries.sort((a, b) => a.point - b.point || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const points = new Uint32Array(entries.length);
  const owners = new Uint32Array(entries.length);
  entries.forEach((e, i) => {
    points[i] = e.point;
    owners[i] = e.owner;
  });
  return { points, owners };
}

/** Index of the first point >= h, wrapping to 0 past the end (the ring's clockwise successor). */
function successor(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/**
 * Consistent hashing on ctx.key: a key sticks to one server, and a server joining or leaving
 * moves only the keys it gains or owned. Without a key it behaves like p2c.
 */
export function createHashStrategy(virtualNodes = DEFAULT_VIRTUAL_NODES): Strategy {
  if (!Number.isInteger(virtualNodes) || virtualNodes < 1) {
    throw InvalidArgumentError.format('virtualNodes', `must be a positive integer, got ${virtualNodes}`);
  }
  // Same array again (a caller reusing its list) hits the WeakMap; a freshly filtered array with
  // the same servers hits the name-keyed LRU. Either way a pick is a lookup plus a binary search.
  const byArray = new WeakMap<readonly Readonly<ServerInfo>[], Ring>();
  const byNames = new Map<string, Ring>();

  function ringFor(candidates: readonly Readonly<ServerInfo>[]): Ring {
    let ring = byArray.get(candidates);
    if (ring) return ring;
    const names = candidates.map((s) => s.name).join('\u0000');
    ring = byNames.get(names);
    if (ring) {
      byNames.delete(names); // re-insert below to mark it most recently used
    } else {
      ring = buildRing(candidates, virtualNodes);
      if (byNames.size >= RING_CACHE_SIZE) byNames.delete(byNames.keys().next().value as string);
    }
    byNames.set(names, ring);
    byArray.set(candidates, ring);
    return ring;
  }

  return (candidates, snapshot, ctx) => {
    if (candidates.length === 0) return undefined;
    if (ctx.key === undefined) return p2c(candidates, snapshot, ctx);
    const ring = ringFor(candidates);
    return candidates[ring.owners[successor(ring.points, hash32(ctx.key))]];
  };
}

/** The registered 'hash' strategy, with DEFAULT_VIRTUAL_NODES per server. */
export const hash: Strategy = createHashStrategy();
