// Route table load as the user count grows: a model (no processes) of the route shards' ZooKeeper
// writes and reads, the memory each process holds for routes and the gateway requests of
// on-demand servers, from 100,000 to 10,000,000 logged-in users. The real route write policy
// (routeWriteDelay) decides every shard write of a simulated shard.
import { DEFAULT_MAX_USERS_PER_SHARD, routeWriteDelay } from '../src/messaging/routes/route-shards.js';
import { DEFAULT_MIN_WRITE_INTERVAL_MS } from '../src/registry/node-writer.js';
import { mulberry32 } from '../src/tools/seeded-random.js';
import { ENSEMBLE_READS_PER_SEC, ENSEMBLE_WRITES_PER_SEC, RESYNC_INTERVAL_SEC } from './zk-load-model.js';

/** The ZooKeeper paper's write throughput was measured with 1 KB writes: bytes beyond that are taken to cost in proportion. */
export const ENSEMBLE_WRITE_BYTES_PER_SEC = ENSEMBLE_WRITES_PER_SEC * 1024;
/** Encoded bytes of one route in a shard (11-character names; `npm run bench -- --only routes` measures 26). */
export const SHARD_BYTES_PER_ROUTE = 26;
/** Bytes a router keeping the whole table holds per route (measured by the same bench: 55–64). */
export const TABLE_BYTES_PER_ROUTE = 60;
/** Bytes of one cached route in an on-demand view (a Map entry, the name, a small object). */
export const CACHED_ROUTE_BYTES = 150;
/** Routes an on-demand view caches (DEFAULT_ROUTE_CACHE_SIZE). */
export const ROUTE_CACHE_SIZE = 10_000;
/** Users per server process in the model. */
export const USERS_PER_SERVER = 100_000;
/** Routers keeping the whole table besides the servers (say the allocation service's instances). */
export const FULL_VIEW_ROUTERS = 3;
/** Assumed ZooKeeper write latency: changes arriving meanwhile join the next write. */
const WRITE_MS = 2;

export const MODEL_USERS = [100_000, 1_000_000, 10_000_000];
/** A long session: 8 hours. */
export const LONG_SESSION_SEC = 8 * 3_600;
/** maxUsersPerShard of the third design: many small shards, so each write carries few bytes. */
export const SMALL_SHARD_USERS = 128;

/**
 * Writes per second of one shard whose users change `changesPerSec` times a second (Poisson),
 * replayed through the NodeWriter's scheduling with the real route write policy: each change asks
 * the policy, a pending write is only ever brought forward, a write takes everything pending, and
 * changes arriving while it is in flight wait for the next one.
 */
export function shardWritesPerSec(changesPerSec: number, seed = 7): number {
  if (changesPerSec <= 0) return 0;
  const durationSec = Math.max(120, 20_000 / changesPerSec); // some 20,000 changes, however slow the shard
  const random = mulberry32(seed);
  const endMs = durationSec * 1000;
  const gap = () => -Math.log(1 - random()) * (1000 / changesPerSec);
  let writes = 0;
  let lastWriteAt = 0;
  let pending = 0;
  let pendingSince = 0;
  let dueAt = Infinity;
  let landsAt = Infinity;
  let carried = 0;
  const schedule = (now: number) => {
    if (landsAt !== Infinity || pending === 0) return;
    const at = now + Math.max(0, routeWriteDelay({ now, lastWriteAt, minWriteIntervalMs: DEFAULT_MIN_WRITE_INTERVAL_MS, pending, pendingSince }));
    dueAt = Math.min(dueAt, at);
  };
  for (let next = gap(); next < endMs || dueAt < endMs || landsAt < endMs; ) {
    const t = Math.min(next, dueAt, landsAt);
    if (t === landsAt) {
      lastWriteAt = t;
      landsAt = Infinity;
      pending -= carried;
      if (pending > 0) pendingSince = t;
      schedule(t);
    } else if (t === dueAt) {
      writes++;
      carried = pending;
      dueAt = Infinity;
      landsAt = t + WRITE_MS;
    } else {
      if (pending === 0) pendingSince = t;
      pending++;
      schedule(t);
      next = t + gap() < endMs ? t + gap() : Infinity;
    }
  }
  return writes / durationSec;
}

export interface RouteLoadRow {
  users: number;
  /** Mean session length. */
  sessionSec: number;
  servers: number;
  maxUsersPerShard: number;
  mode: 'watched' | 'on-demand';
  /** Routers keeping the whole table (servers included when watched). */
  fullViews: number;
  shardsPerServer: number;
  shardBytes: number;
  writesPerSec: number;
  writeBytesPerSec: number;
  readsPerSec: number;
  readBytesPerSec: number;
  /** Route memory of one server process (the table when watched; its cache on demand). */
  serverBytes: number;
  /** Route memory of a router keeping the whole table. */
  fullViewBytes: number;
  /** Encoded routes held by ZooKeeper. */
  zkBytes: number;
  /** Gateway requests each on-demand server sends (and about as many it answers) per second for logins. */
  gatewayPerServer: number;
}

export interface RouteLoadOptions {
  /** Mean time a user stays logged in: two route changes (login, logout) per session. @default 1800 */
  sessionSec?: number;
}

function shardsFor(usersPerServer: number, maxUsersPerShard: number): number {
  let k = 1;
  while (usersPerServer / k > maxUsersPerShard && k < 1024) k *= 2;
  return k;
}

export function routeLoad(users: number, mode: 'watched' | 'on-demand', maxUsersPerShard: number, fullViewRouters: number, o: RouteLoadOptions = {}): RouteLoadRow {
  const sessionSec = o.sessionSec ?? 1_800;
  const servers = Math.max(1, Math.ceil(users / USERS_PER_SERVER));
  const perServer = users / servers;
  const k = shardsFor(perServer, maxUsersPerShard);
  const shardBytes = (perServer / k) * SHARD_BYTES_PER_ROUTE;
  const changesPerShard = (2 * perServer) / sessionSec / k;
  const writesPerSec = servers * k * shardWritesPerSec(changesPerShard);
  const fullViews = (mode === 'watched' ? servers : 0) + fullViewRouters;
  // Every full view re-reads each written shard, and every shard at each resync.
  const readsPerSec = fullViews * (writesPerSec + (servers * k) / RESYNC_INTERVAL_SEC);
  const loginsPerSec = users / sessionSec;
  return {
    users, sessionSec, servers, maxUsersPerShard, mode, fullViews, shardsPerServer: k, shardBytes,
    writesPerSec, writeBytesPerSec: writesPerSec * shardBytes,
    readsPerSec, readBytesPerSec: readsPerSec * shardBytes,
    serverBytes: mode === 'watched' ? users * TABLE_BYTES_PER_ROUTE : Math.min(ROUTE_CACHE_SIZE, users) * CACHED_ROUTE_BYTES,
    fullViewBytes: users * TABLE_BYTES_PER_ROUTE,
    zkBytes: users * SHARD_BYTES_PER_ROUTE,
    // Each login asks every other server (where) and tells them after its welcome (kick if older).
    gatewayPerServer: mode === 'on-demand' ? ((loginsPerSec / servers) * 2 * (servers - 1)) : 0,
  };
}

/** Whether an ensemble carries the row: writes, write bytes and reads within its capacity. */
export function fits(r: RouteLoadRow): boolean {
  return r.writesPerSec <= ENSEMBLE_WRITES_PER_SEC && r.writeBytesPerSec <= ENSEMBLE_WRITE_BYTES_PER_SEC && r.readsPerSec <= ENSEMBLE_READS_PER_SEC;
}

export function runRouteModel(o: RouteLoadOptions = {}): RouteLoadRow[] {
  const rows: RouteLoadRow[] = [];
  for (const users of MODEL_USERS) {
    rows.push(routeLoad(users, 'watched', DEFAULT_MAX_USERS_PER_SHARD, FULL_VIEW_ROUTERS, o));
    rows.push(routeLoad(users, 'watched', SMALL_SHARD_USERS, FULL_VIEW_ROUTERS, o));
    rows.push(routeLoad(users, 'on-demand', SMALL_SHARD_USERS, FULL_VIEW_ROUTERS, o));
    rows.push(routeLoad(users, 'on-demand', SMALL_SHARD_USERS, 0, o));
  }
  // The same design when users stay longer (long-lived connections: a mobile app's push channel, say).
  rows.push(routeLoad(MODEL_USERS.at(-1)!, 'on-demand', SMALL_SHARD_USERS, 0, { ...o, sessionSec: LONG_SESSION_SEC }));
  return rows;
}

/** The most users (in steps of 10 %) one ensemble carries with on-demand servers, small shards and no full view, at a session length. */
export function maxUsers(sessionSec: number): number {
  let best = 0;
  for (let users = USERS_PER_SERVER; users <= 1e9; users = Math.round(users * 1.1)) {
    if (!fits(routeLoad(users, 'on-demand', SMALL_SHARD_USERS, 0, { sessionSec }))) break;
    best = users;
  }
  return best;
}
