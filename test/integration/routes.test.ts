import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { RouteShards, SHARD_HARD_LIMIT_BYTES } from '../../src/messaging/routes/route-shards.js';
import { RouteTable } from '../../src/messaging/routes/route-table.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';
import { ZkSession } from '../../src/zk/session.js';
import { measured } from '../helpers/fault-util.js';
import { cjkNames } from '../helpers/cjk-names.js';
import { resolvesWithin } from '../helpers/eventually.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('routes - on real ZooKeeper, 8,192 CJK user names are written as shards that each stay under 1 MiB', async () => {
  const { root, cleanup } = await freshRoot(zk, 'routes-cjk');
  const routesRoot = routesRootOf(root);
  const session = new ZkSession({ connect });
  const shards = new RouteShards({ session, routesRoot, server: 'cjk' });
  try {
    await shards.start();
    const users = cjkNames(8_192);
    const acked = await resolvesWithin(Promise.all(users.map((u, i) => shards.set(u, Date.now(), i))), 60_000);
    assert.ok(acked, 'every route acknowledged by ZooKeeper');
    assert.ok(await resolvesWithin(shards.flushed(), 30_000));
    const names = (await zk.get_children(routesRoot, false)) as string[];
    const seen = new Set<string>();
    let largest = 0;
    for (const name of names) {
      const [stat, data] = (await zk.get(`${routesRoot}/${name}`, false)) as [{ dataLength: number }, Buffer];
      largest = Math.max(largest, stat.dataLength);
      for (const u of decodeShard(data)?.users.keys() ?? []) seen.add(u);
    }
    measured('routes: shards and largest shard node for 8,192 CJK names', `${names.length} shards, largest ${largest} bytes`, '');
    assert.ok(names.length >= 4, `${names.length} shards`);
    assert.ok(largest <= SHARD_HARD_LIMIT_BYTES && largest < 1024 * 1024, `largest node ${largest} bytes`);
    assert.equal(seen.size, users.length, 'every user in ZooKeeper');
  } finally {
    await shards.close();
    session.close();
    await cleanup();
  }
});

test('routes - on real ZooKeeper, a router finds every route the moment its shard write is acknowledged (synced read)', async () => {
  const { root, cleanup } = await freshRoot(zk, 'routes-synced');
  const routesRoot = routesRootOf(root);
  const writer = new ZkSession({ connect });
  const reader = new ZkSession({ connect });
  const shards = new RouteShards({ session: writer, routesRoot, server: 'srv', maxUsersPerShard: 16 });
  const table = new RouteTable({ session: reader, routesRoot });
  const N = 100;
  try {
    await shards.start();
    await table.start();
    let watchedFirst = 0;
    const missing: string[] = [];
    for (let i = 0; i < N; i++) {
      const user = `u-${i}`;
      await shards.set(user, Date.now(), i);
      // The instant ZooKeeper acknowledged the write: the watch may or may not have told the table yet.
      if (table.best(user)) watchedFirst++;
      if ((await table.lookup(user))?.server !== 'srv') missing.push(user);
    }
    measured('routes: routes the watch had delivered at the acknowledgement', `${watchedFirst} of ${N}`, '');
    assert.deepEqual(missing, [], 'every acknowledged route found');
    assert.ok(shards.shardCount >= 8, 'shards split meanwhile');
  } finally {
    table.close();
    await shards.close();
    reader.close();
    writer.close();
    await cleanup();
  }
});
