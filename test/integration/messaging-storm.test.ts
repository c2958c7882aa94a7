import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ZkSession } from '../../src/zk/session.js';
import { nodeData as zkBalances } from '../helpers/nodes.js';
import { measured } from '../helpers/fault-util.js';
import { closeMessaging, startMessagingServers } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const USERS = 1_000;

test('messaging storm - 1,000 logins at once: balances and the route table are exact, few route writes, and again after half leave', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-storm');
  // A small shard limit so the storm also splits shards while it runs.
  const servers = await startMessagingServers(3, { zk: connect, root, maxUsersPerShard: 128 });
  const session = new ZkSession({ connect });
  const push = new Router({ zk: session, root });
  let clients: ClientRunner | undefined;
  let duplicates = 0;
  const routesInZk = async () => {
    const routes = routesRootOf(root);
    const out = new Map<string, string>();
    duplicates = 0;
    for (const name of (await zk.get_children(routes, false)) as string[]) {
      const [, data] = (await zk.get(`${routes}/${name}`, false)) as [unknown, Buffer];
      const shard = decodeShard(data);
      for (const u of shard?.users.keys() ?? []) {
        if (out.has(u)) duplicates++; // for a moment while a shard splits
        out.set(u, shard!.server);
      }
    }
    return out;
  };
  const expected = () => new Map(clients!.clients.filter((c) => c.isConnected).map((c) => [c.user!, c.server!.name]));
  const exact = async () => {
    const nodes = await zkBalances(zk, root);
    if (!servers.every((s) => nodes.get(s.id)?.balance === s.connections.size)) return false;
    const want = expected();
    const got = await routesInZk();
    if (duplicates > 0) return false;
    if (got.size !== want.size || [...want].some(([u, s]) => got.get(u) !== s)) return false;
    return push.routes.size === want.size && [...want].every(([u, s]) => push.route(u)?.server === s);
  };
  try {
    await push.start();
    const writes0 = servers.reduce((n, s) => n + s.stats.routeWrites, 0);
    clients = new ClientRunner({ count: USERS, staggerMs: 0, session, root, strategy: 'least', login: (i) => ({ user: `storm-${i}` }) });
    assert.deepEqual(await clients.start(), { connected: USERS, failed: 0 });
    assert.ok(await eventually(exact, 20_000), `balances, ZooKeeper routes and the router view exact after the storm (users in two shards: ${duplicates})`);
    const writes = servers.reduce((n, s) => n + s.stats.routeWrites, 0) - writes0;
    measured('messaging storm: route writes per login (1,000 logins, 3 servers)', (writes / USERS).toFixed(3), '');
    assert.ok(servers.some((s) => s.stats.routeShards > 1), 'shards split under the storm');
    assert.ok(writes < USERS / 2, `${writes} route writes for ${USERS} logins`);
    await Promise.all(clients.clients.filter((_, i) => i % 2 === 0).map((c) => c.disconnect()));
    assert.ok(await eventually(exact, 20_000), 'exact again after half left');
    assert.equal(push.routes.size, USERS / 2);
  } finally {
    push.close();
    await clients?.stop();
    session.close();
    await closeMessaging(servers);
    await cleanup();
  }
});
