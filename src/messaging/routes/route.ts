// A route: where a logged-in user is (its ordering token and the rule comparing two: login-order.ts).
import { fnvHash } from '../../fnv-hash.js';
import type { LoginOrder } from '../login-order.js';

export { compareLogins, type LoginOrder } from '../login-order.js';

export interface Route extends LoginOrder {
  /** The shard node the route was read from. */
  shard: string;
}

/** The routes live beside the servers: `/fulcrum/servers` → `/fulcrum/routes`. */
export function routesRootOf(serversRoot: string): string {
  const cut = serversRoot.lastIndexOf('/');
  return `${cut > 0 ? serversRoot.slice(0, cut) : ''}/routes`;
}

/** The same login read from the same shard (best() returns a new object each call). */
export function sameRoute(a: Route | undefined, b: Route | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.shard === b.shard && a.since === b.since && a.seq === b.seq && a.server === b.server);
}

const SHARD_SEPARATOR = '#';

/** `<server>#<k>`: one flat list of ephemeral shard nodes under the routes root. */
export function shardName(server: string, k: number): string {
  return `${server}${SHARD_SEPARATOR}${k}`;
}

/** The server and number of a shard node name, or undefined for a name that is not one. */
export function parseShardName(name: string): { server: string; k: number } | undefined {
  const cut = name.lastIndexOf(SHARD_SEPARATOR);
  if (cut <= 0 || !/^\d+$/.test(name.slice(cut + 1))) return undefined;
  return { server: name.slice(0, cut), k: Number(name.slice(cut + 1)) };
}

/** The server of a shard node name, or undefined for a name that is not one. */
export function serverOfShard(name: string): string | undefined {
  return parseShardName(name)?.server;
}

/**
 * FNV-1a over UTF-16 code units, then murmur3's final mix: a stable, cheap spread of user names
 * over shards (every server and router uses it). The mix matters: in plain FNV-1a bit k depends
 * only on bits 0..k of the characters, so names whose characters differ by multiples of 16 code
 * points (common among CJK names) would share their low bits, which pick the shard.
 */
export function userHash(user: string): number {
  return fnvHash(user);
}

/** The shard of `user` among `count` shards (a power of two). */
export function shardIndex(user: string, count: number): number {
  return userHash(user) & (count - 1);
}

/**
 * The shards of one server that may hold `user` when that server has shard numbers up to
 * `maxK`: its shard under every shard count the server may have had (the count only doubles, and
 * a user moving to a new shard stays in its old one until the new one is written).
 */
export function candidateShards(user: string, maxK: number): number[] {
  const h = userHash(user);
  const out = new Set<number>();
  for (let count = 1; count <= maxK + 1; count *= 2) out.add(h & (count - 1));
  // A server in the middle of a split lists shards up to a count that is not yet a power of two.
  let top = 1;
  while (top < maxK + 1) top *= 2;
  out.add(h & (top - 1));
  return [...out].filter((k) => k <= maxK);
}
