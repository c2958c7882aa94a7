// A route: where a logged-in user is, and the ordering token that decides which login is the latest.

/** Ordering token of a login: compared by `since`, then `server`, then `seq` (a total order, the same in every process). */
export interface LoginOrder {
  /** Epoch ms of the login, raised above any route the server already knew for the user (so a re-login always wins). */
  since: number;
  /** Node name of the server holding the connection. */
  server: string;
  /** That server's login counter: orders two logins on one server within one millisecond. */
  seq: number;
}

export interface Route extends LoginOrder {
  /** The shard node the route was read from. */
  shard: string;
}

/** Negative when `a` is older than `b`. */
export function compareLogins(a: LoginOrder, b: LoginOrder): number {
  if (a.since !== b.since) return a.since - b.since;
  if (a.server !== b.server) return a.server < b.server ? -1 : 1;
  return a.seq - b.seq;
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
