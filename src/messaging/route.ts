// A route: where a logged-in user is (its ordering token and the rule comparing two: login-order.ts).
import type { LoginOrder } from './login-order.js';

export { compareLogins, type LoginOrder } from './login-order.js';

export interface Route extends LoginOrder {
  /** The shard node the route was read from. */
  shard: string;
}

/** The routes live beside the servers: `/fulcrum/servers` → `/fulcrum/routes`. */
export function routesRootOf(serversRoot: string): string {
  const cut = serversRoot.lastIndexOf('/');
  return `${cut > 0 ? serversRoot.slice(0, cut) : ''}/routes`;
}

const SHARD_SEPARATOR = '#';

/** `<server>#<k>`: one flat list of ephemeral shard nodes under the routes root. */
export function shardName(server: string, k: number): string {
  return `${server}${SHARD_SEPARATOR}${k}`;
}

/** The server of a shard node name, or undefined for a name that is not one. */
export function serverOfShard(name: string): string | undefined {
  const cut = name.lastIndexOf(SHARD_SEPARATOR);
  if (cut <= 0 || !/^\d+$/.test(name.slice(cut + 1))) return undefined;
  return name.slice(0, cut);
}
