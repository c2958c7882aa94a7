import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';
import { expireSession } from '../helpers/expire-session.js';
import { measured } from '../helpers/fault-util.js';
import { closeMessaging, loginOn, startMessagingServers, type TestUser } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually, whenTrue } from '../helpers/eventually.js';

/** The shared test ZooKeeper runs tickTime 1000, so 3 s is a legal (and quick) session timeout. */
const SESSION_TIMEOUT_MS = 3_000;
const USERS = 40;

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

async function routedInZk(root: string): Promise<Map<string, { server: string; owner: string }>> {
  const routes = routesRootOf(root);
  const out = new Map<string, { server: string; owner: string }>();
  for (const name of (await zk.get_children(routes, false)) as string[]) {
    const [stat, data] = (await zk.get(`${routes}/${name}`, false)) as [{ ephemeralOwner: string }, Buffer];
    for (const u of decodeShard(data)?.users.keys() ?? []) out.set(u, { server: decodeShard(data)!.server, owner: String(stat.ephemeralOwner) });
  }
  return out;
}

test('messaging expiry - a server whose ZooKeeper session expires re-publishes every route by itself: every user stays reachable, nobody logs in again', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-expiry');
  // Small shards: the server re-creates several after the expiry.
  const servers = await startMessagingServers(2, { zk: connect, root, sessionTimeoutMs: SESSION_TIMEOUT_MS, maxUsersPerShard: 8 });
  const router = new Router({ zk: connect, root, ackTimeoutMs: 3_000 });
  const users: TestUser[] = [];
  const names = Array.from({ length: USERS }, (_, i) => `exp-${i}`);
  const [victim] = servers;
  try {
    for (const name of names) users.push(await loginOn(victim!, { user: name }));
    await router.start();
    assert.ok(await eventually(() => names.every((u) => router.route(u)?.server === victim!.id)), 'every user routed to the victim');
    const before = await routedInZk(root);
    assert.equal(before.size, USERS);
    const oldOwner = before.get(names[0]!)!.owner;

    const expiredAt = Date.now();
    assert.ok((await expireSession(victim!.session.zk, connect)) < 0, 'the session expired');
    const backAt = await whenTrue(async () => {
      const now = await routedInZk(root);
      return names.every((u) => now.get(u)?.server === victim!.id && now.get(u)?.owner !== oldOwner);
    }, 20_000);
    assert.ok(backAt !== undefined, 'every route back in ZooKeeper, owned by the new session');
    measured('messaging expiry: every route re-published after the expiry', backAt - expiredAt);
    assert.ok(await eventually(() => names.every((u) => router.route(u)?.server === victim!.id)), 'the router sees them all again');

    const results = await router.pushMany(names, 'after expiry');
    assert.deepEqual(results.filter((r) => !r.acked).map((r) => `${r.user}: ${r.error?.code}`), [], 'every push acked');
    assert.ok(users.every((u) => u.messages.some((m) => m.body === 'after expiry')), 'every client got it');
    assert.deepEqual(users.flatMap((u) => u.kicked), [], 'nobody was kicked');
    assert.equal(victim!.userCount, USERS, 'no connection dropped');
    assert.equal(victim!.stats.logins, USERS, 'no login after the first ones');
    assert.ok(victim!.cluster.stats.reregistrations >= 1, 'the server node was re-created too');
  } finally {
    router.close();
    await Promise.all(users.map((u) => u.client.disconnect().catch(() => {})));
    await closeMessaging(servers);
    await cleanup();
  }
});
