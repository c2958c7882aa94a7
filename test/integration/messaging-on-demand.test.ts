import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import type { MessagingServer } from '../../src/messaging/messaging-server.js';
import type { RouteLookup } from '../../src/messaging/routes/route-lookup.js';
import { closeMessaging, loginOn, routeIs, startMessagingServers } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

/** What every on-demand server answers for `user` when it asks the others now. */
async function askedBy(servers: readonly MessagingServer[], user: string): Promise<(string | undefined)[]> {
  return Promise.all(servers.map(async (s) => (await s.router.routes.lookup(user, { force: true }))?.server));
}

test('messaging on demand - servers keep only their own users; a send to another server asks for the route once, then uses it', async () => {
  const { root, cleanup } = await freshRoot(zk, 'od-send');
  const servers = await startMessagingServers(2, { zk: connect, root, routes: 'on-demand' });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const a = await loginOn(servers[0]!, { user: 'a' });
    const b = await loginOn(servers[1]!, { user: 'b' });
    const c = await loginOn(servers[1]!, { user: 'c' });
    // Each server lists its own users only; the full-view router sees all three.
    assert.deepEqual([...servers[0]!.router.routes.entries()].map(([u]) => u), ['a']);
    assert.deepEqual([...servers[1]!.router.routes.entries()].map(([u]) => u).sort(), ['b', 'c']);
    assert.ok(await eventually(() => push.routes.size === 3));
    const view = servers[0]!.router.routes as RouteLookup;
    assert.equal(servers[0]!.router.view, 'on-demand');
    assert.equal(view.best('b'), undefined, 'not known before it is asked for');
    assert.deepEqual(await a.client.send('b', 'hi b'), { delivered: true });
    assert.deepEqual(await a.client.send('b', 'again'), { delivered: true });
    assert.equal(view.stats.asks, 1, 'asked once, then cached');
    assert.equal(view.best('b')?.server, servers[1]!.id);
    assert.deepEqual(await b.client.send('a', 'hi a'), { delivered: true });
    assert.deepEqual(await a.client.send('nobody', 'x'), { delivered: false, code: 'FULCRUM_USER_OFFLINE' });
    assert.deepEqual(b.messages.map((m) => [m.from, m.body]), [['a', 'hi b'], ['a', 'again']]);
    assert.deepEqual(a.messages.map((m) => [m.from, m.body]), [['b', 'hi a']]);
    // An application's router on demand: no table at all, it asks the servers.
    const od = new Router({ zk: connect, root, routes: 'on-demand' });
    try {
      assert.equal((await od.push('c', 'from an on-demand router')).server, servers[1]!.id);
      assert.deepEqual([od.routes.size, od.online().total], [0, 0], 'it lists nobody');
      await assert.rejects(od.push('nobody', 'x'), (e: Error & { code?: string }) => e.code === 'FULCRUM_USER_OFFLINE');
    } finally {
      od.close();
    }
    // b moves to server 0: the cached route proves stale (server 1 answers offline), the router asks again.
    await b.client.disconnect();
    const b2 = await loginOn(servers[0]!, { user: 'b' });
    assert.deepEqual(await c.client.send('b', 'moved'), { delivered: true });
    assert.deepEqual(b2.messages.map((m) => m.body), ['moved']);
    assert.deepEqual(c.messages.map((m) => m.body), ['from an on-demand router']);
    await Promise.all([a, b2, c].map((u) => u.client.disconnect()));
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging on demand - logging in again on another server kicks the older connection at once; every router then finds the newest', async () => {
  const { root, cleanup } = await freshRoot(zk, 'od-relogin');
  const servers = await startMessagingServers(3, { zk: connect, root, routes: 'on-demand' });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const first = await loginOn(servers[0]!, { user: 'dup' });
    const second = await loginOn(servers[1]!, { user: 'dup' });
    assert.ok(await eventually(() => first.kicked.length === 1), 'the login on another server kicks the old one');
    assert.deepEqual(first.kicked, ['replaced']);
    assert.ok(await routeIs([push], 'dup', servers[1]!.id));
    assert.deepEqual(await askedBy(servers, 'dup'), [servers[1]!.id, servers[1]!.id, servers[1]!.id]);
    const third = await loginOn(servers[2]!, { user: 'dup' });
    assert.ok(await eventually(() => second.kicked.length === 1));
    assert.ok(await routeIs([push], 'dup', servers[2]!.id));
    assert.ok(await eventually(() => servers[0]!.userCount + servers[1]!.userCount === 0 && servers[2]!.userCount === 1));
    assert.equal((await push.push('dup', 'to the newest')).server, servers[2]!.id);
    assert.deepEqual(third.messages.map((m) => m.body), ['to the newest']);
    assert.equal(third.kicked.length, 0);
    await Promise.all([first, second, third].map((u) => u.client.disconnect()));
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging on demand - near-simultaneous logins of one user on three servers leave exactly one connection, the one every router finds', async () => {
  const { root, cleanup } = await freshRoot(zk, 'od-race');
  const servers = await startMessagingServers(3, { zk: connect, root, routes: 'on-demand' });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    for (let round = 0; round < 5; round++) {
      const user = `race-${round}`;
      const logins = await Promise.all(servers.map((s) => loginOn(s, { user })));
      assert.ok(await eventually(() => logins.filter((l) => l.kicked.length === 0).length === 1 && servers.reduce((n, s) => n + s.userCount, 0) === round + 1, 10_000), `round ${round}: one survivor`);
      const winner = logins.findIndex((l) => l.kicked.length === 0);
      assert.ok(await routeIs([push], user, servers[winner]!.id), `round ${round}: the full-view router agrees`);
      assert.deepEqual(await askedBy(servers, user), servers.map(() => servers[winner]!.id), `round ${round}: every server finds it`);
      assert.equal((await push.push(user, round)).server, servers[winner]!.id);
      for (const [i, l] of logins.entries()) if (i !== winner) assert.deepEqual(l.kicked, ['replaced']);
    }
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});
