// Bytes per route entry in a router: route shards written to ZooKeeper the way servers write them
// (same codec, same split rule), then loaded by a RouteTable in a fresh process; heap and
// external memory after GC, divided by the routes it holds.
import { encodeShard, shardBaseBytes, shardEntryBytes } from '../src/messaging/routes/shard-codec.js';
import { DEFAULT_MAX_USERS_PER_SHARD, MAX_SHARD_BYTES } from '../src/messaging/routes/route-shards.js';
import { shardIndex, shardName } from '../src/messaging/routes/route.js';
import { C } from '../src/zk/codes.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import type { ZkClient } from '../src/zk/zk-client.js';
import { BenchChild } from './child-ipc.js';

/** Target: at most this many bytes per route entry. */
export const ROUTE_BYTES_TARGET = 100;
/** Users per server process in the bench's cluster. */
const USERS_PER_SERVER = 100_000;

export interface RouteMemoryRow {
  routes: number;
  servers: number;
  shards: number;
  /** Heap + external after GC, per route. */
  bytesPerRoute: number;
  heapPerRoute: number;
  externalPerRoute: number;
  /** Encoded shard bytes per route (what ZooKeeper holds and every full-view router reads). */
  zkBytesPerRoute: number;
  loadMs: number;
  lookupsPerSec: number;
}

/** A bench user name: 11 characters, like `u-000123456`. */
export const benchUser = (i: number) => `u-${String(i).padStart(9, '0')}`;

async function writeRoutes(zk: ZkClient, routesRoot: string, total: number): Promise<{ servers: number; shards: number; zkBytes: number }> {
  const servers = Math.max(1, Math.ceil(total / USERS_PER_SERVER));
  const since = Date.now();
  let shards = 0;
  let zkBytes = 0;
  for (let s = 0; s < servers; s++) {
    const server = `127.0.0.1:${7000 + s}`;
    const users: string[] = [];
    for (let i = s; i < total; i += servers) users.push(benchUser(i));
    // The split rule of RouteShards: double until no shard is over its user or byte limit.
    let count = 1;
    const fits = (c: number) => {
      const n = new Array<number>(c).fill(0);
      const b = new Array<number>(c).fill(shardBaseBytes(server));
      for (const u of users) {
        const k = shardIndex(u, c);
        n[k]!++;
        b[k]! += shardEntryBytes(u);
      }
      return n.every((x) => x <= DEFAULT_MAX_USERS_PER_SHARD) && b.every((x) => x <= MAX_SHARD_BYTES);
    };
    while (!fits(count)) count *= 2;
    const maps = Array.from({ length: count }, () => new Map<string, readonly [number, number]>());
    users.forEach((u, i) => maps[shardIndex(u, count)]!.set(u, [since + i, i + 1]));
    await Promise.all(
      maps.map(async (m, k) => {
        const data = encodeShard({ server, users: m });
        zkBytes += data.length;
        await zk.create(`${routesRoot}/${shardName(server, k)}`, data, C.ZOO_PERSISTENT);
      }),
    );
    shards += count;
  }
  return { servers, shards, zkBytes };
}

export async function runRouteMemory(o: { zk: string; admin: ZkClient; base: string; levels?: number[] }): Promise<RouteMemoryRow[]> {
  const rows: RouteMemoryRow[] = [];
  for (const total of o.levels ?? [100_000, 1_000_000]) {
    const routesRoot = `${o.base}/routes-${total}`;
    await mkdirp(o.admin, routesRoot);
    const child = new BenchChild('./driver-routes.js', [], { execArgv: ['--expose-gc', '--max-old-space-size=4096'] });
    try {
      const w = await writeRoutes(o.admin, routesRoot, total);
      const probe = Array.from({ length: 20_000 }, (_, i) => benchUser(Math.floor((i * total) / 20_000)));
      const r = await child.request<{ size: number; heap: number; external: number; loadMs: number; lookupsPerSec: number; found: number }>('load', { zk: o.zk, routesRoot, probe });
      if (r.size !== total || r.found !== probe.length) throw new Error(`route table holds ${r.size} of ${total} routes, found ${r.found} of ${probe.length}`);
      rows.push({
        routes: total, servers: w.servers, shards: w.shards,
        bytesPerRoute: (r.heap + r.external) / total, heapPerRoute: r.heap / total, externalPerRoute: r.external / total,
        zkBytesPerRoute: w.zkBytes / total, loadMs: r.loadMs, lookupsPerSec: r.lookupsPerSec,
      });
      await child.request('close');
    } finally {
      await child.stop();
      await deleteTree(o.admin, routesRoot).catch(() => {});
    }
  }
  return rows;
}
