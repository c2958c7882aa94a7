import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { MAX_MESSAGE_BYTES, Router } from '../../src/messaging/router.js';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { ZkSession } from '../../src/zk/session.js';
import { MessageTooLargeError, UserOfflineError } from '../../src/errors.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';
import { closeMessaging, loginOn, rawPeer, routeIs, startMessagingServers } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

async function shardUsers(root: string): Promise<Map<string, string>> {
  const routes = routesRootOf(root);
  const out = new Map<string, string>();
  for (const name of (await zk.get_children(routes, false)) as string[]) {
    const [, data] = (await zk.get(`${routes}/${name}`, false)) as [unknown, Buffer];
    const shard = decodeShard(data);
    for (const u of shard?.users.keys() ?? []) out.set(u, shard!.server);
  }
  return out;
}

test('messaging - login gets a welcome, the route appears in ZooKeeper and every router, a push is acked', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-login');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const alice = await loginOn(servers[0]!, { user: 'alice' });
    const welcomed: string[] = [];
    alice.client.on('loggedIn', (u) => welcomed.push(u));
    assert.ok(await routeIs([push, servers[1]!.router, servers[0]!.router], 'alice', servers[0]!.id), 'every router sees alice on server 0');
    assert.equal((await shardUsers(root)).get('alice'), servers[0]!.id);
    const r = await push.push('alice', { hello: 'world' });
    assert.deepEqual({ ...r, id: undefined }, { delivered: true, acked: true, server: servers[0]!.id, id: undefined });
    assert.deepEqual(alice.messages, [{ id: r.id, body: { hello: 'world' } }]);
    assert.equal(push.online().total, 1);
    assert.deepEqual(push.online().users.map((u) => [u.user, u.server]), [['alice', servers[0]!.id]]);
    await alice.client.disconnect();
    assert.ok(await routeIs([push], 'alice', undefined), 'the route goes when the user leaves');
    await assert.rejects(push.push('alice', 'x'), (e: unknown) => e instanceof UserOfflineError && e.code === 'FULCRUM_USER_OFFLINE');
    assert.equal((await shardUsers(root)).has('alice'), false);
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - private messages between users on different servers, and to an offline user', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-p2p');
  const servers = await startMessagingServers(2, { zk: connect, root });
  try {
    const a = await loginOn(servers[0]!, { user: 'a' });
    const b = await loginOn(servers[1]!, { user: 'b' });
    assert.ok(await routeIs([servers[0]!.router, servers[1]!.router], 'b', servers[1]!.id));
    assert.ok(await routeIs([servers[0]!.router, servers[1]!.router], 'a', servers[0]!.id));
    assert.deepEqual(await a.client.send('b', 'hi b'), { delivered: true });
    assert.deepEqual(await b.client.send('a', { n: 1 }), { delivered: true });
    assert.deepEqual(await a.client.send('nobody', 'x'), { delivered: false, code: 'FULCRUM_USER_OFFLINE' });
    assert.deepEqual(b.messages.map((m) => [m.from, m.body]), [['a', 'hi b']]);
    assert.deepEqual(a.messages.map((m) => [m.from, m.body]), [['b', { n: 1 }]]);
    await Promise.all([a.client.disconnect(), b.client.disconnect()]);
  } finally {
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - rooms: publish reaches the members on every server, not the others; leave stops it', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-rooms');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    const users = await Promise.all([0, 1, 2, 3].map((i) => loginOn(servers[i % 2]!, { user: `u${i}` })));
    await users[0]!.client.join('news');
    await users[1]!.client.join('news');
    await users[2]!.client.join('other');
    const r1 = await push.publish('news', 'first');
    assert.deepEqual(r1, { servers: 2, recipients: 2 });
    await users[1]!.client.leave('news');
    const r2 = await push.publish('news', 'second');
    assert.deepEqual(r2, { servers: 2, recipients: 1 });
    assert.ok(await eventually(() => users[0]!.messages.length === 2 && users[1]!.messages.length === 1));
    assert.deepEqual(users[0]!.messages.map((m) => [m.room, m.body]), [['news', 'first'], ['news', 'second']]);
    assert.deepEqual(users[1]!.messages.map((m) => m.body), ['first']);
    assert.deepEqual([users[2]!.messages.length, users[3]!.messages.length], [0, 0]);
    await Promise.all(users.map((u) => u.client.disconnect()));
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - broadcast reaches exactly the online users, once each, not unauthenticated sockets', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-bcast');
  const servers = await startMessagingServers(3, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    const users = await Promise.all(Array.from({ length: 12 }, (_, i) => loginOn(servers[i % 3]!, { user: `b${i}` })));
    const anon = await rawPeer(servers[0]!.endpoint!.port);
    const r = await push.broadcast({ all: true });
    assert.deepEqual(r, { servers: 3, recipients: 12 });
    assert.ok(await eventually(() => users.every((u) => u.messages.length === 1)));
    await new Promise((res) => setTimeout(res, 100));
    assert.deepEqual(users.map((u) => u.messages.length), Array(12).fill(1));
    assert.deepEqual(anon.frames, []);
    anon.socket.destroy();
    await Promise.all(users.map((u) => u.client.disconnect()));
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - kick: the user gets kicked, is closed, does not come back, and its route disappears', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-kick');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const k = await loginOn(servers[1]!, { user: 'kickme' }, { reconnect: true });
    const disconnected: boolean[] = [];
    k.client.on('disconnected', (_s, again) => disconnected.push(again));
    assert.ok(await routeIs([push], 'kickme', servers[1]!.id));
    assert.equal(await push.kick('kickme'), true);
    assert.ok(await eventually(() => disconnected.length === 1));
    assert.deepEqual(k.kicked, ['kicked']);
    assert.deepEqual(disconnected, [false]);
    assert.ok(await routeIs([push, servers[0]!.router], 'kickme', undefined));
    assert.equal(await push.kick('kickme'), false);
    await k.client.disconnect();
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - logging in again (same server, then another) kicks the older connection; the route follows the newest', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-relogin');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const first = await loginOn(servers[0]!, { user: 'dup' });
    const second = await loginOn(servers[0]!, { user: 'dup' });
    assert.ok(await eventually(() => first.kicked.length === 1));
    assert.deepEqual(first.kicked, ['replaced']);
    assert.ok(await routeIs([push], 'dup', servers[0]!.id));
    const third = await loginOn(servers[1]!, { user: 'dup' });
    assert.ok(await eventually(() => second.kicked.length === 1), 'the login on another server kicks the old one');
    assert.deepEqual(second.kicked, ['replaced']);
    assert.ok(await routeIs([push, servers[0]!.router, servers[1]!.router], 'dup', servers[1]!.id));
    assert.ok(await eventually(() => servers[0]!.userCount === 0 && servers[1]!.userCount === 1));
    const r = await push.push('dup', 'to the newest');
    assert.equal(r.server, servers[1]!.id);
    assert.deepEqual(third.messages.map((m) => m.body), ['to the newest']);
    assert.equal(third.kicked.length, 0);
    await Promise.all([first, second, third].map((u) => u.client.disconnect()));
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - near-simultaneous logins of one user on three servers leave exactly one connection, the same one every router picks', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-race');
  const servers = await startMessagingServers(3, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    for (let round = 0; round < 5; round++) {
      const user = `race-${round}`;
      const logins = await Promise.all(servers.map((s) => loginOn(s, { user })));
      // Settles to one survivor on one server.
      assert.ok(await eventually(() => logins.filter((l) => l.kicked.length === 0).length === 1 && servers.reduce((n, s) => n + s.userCount, 0) === round + 1, 10_000), `round ${round}: one survivor`);
      const winner = logins.findIndex((l) => l.kicked.length === 0);
      assert.ok(await routeIs([push, ...servers.map((s) => s.router)], user, servers[winner]!.id), `round ${round}: every router agrees`);
      assert.equal((await push.push(user, round)).server, servers[winner]!.id);
      for (const [i, l] of logins.entries()) if (i !== winner) assert.deepEqual(l.kicked, ['replaced']);
    }
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging - bad frames get an error frame and a close of that socket only; nothing is routed', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-bad');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const good = await loginOn(server!, { user: 'good' });
    const cases: [string, unknown][] = [
      ['empty user', { type: 'login', user: '' }],
      ['long user', { type: 'login', user: 'x'.repeat(129) }],
      ['numeric user', { type: 'login', user: 42 }],
      ['unknown type', { type: 'nonsense' }],
      ['not a map', [1, 2, 3]],
      ['send before login', { type: 'send', id: 1, to: 'good', body: 'x' }],
      ['join before login', { type: 'join', room: 'r' }],
    ];
    for (const [what, frame] of cases) {
      const p = await rawPeer(server!.endpoint!.port);
      p.send(frame);
      await p.closed;
      const err = p.frames[0] as { type?: string; code?: string };
      assert.equal(err?.type, 'error', what);
      assert.match(String(err.code), /^FULCRUM_(BAD_FRAME|NOT_LOGGED_IN)$/, what);
    }
    const logged = await rawPeer(server!.endpoint!.port);
    logged.send({ type: 'login', user: 'bob' });
    logged.send({ type: 'join', room: 'y'.repeat(200) });
    await logged.closed;
    assert.deepEqual((logged.frames as { type: string }[]).map((f) => f.type), ['welcome', 'error']);
    const undecodable = await rawPeer(server!.endpoint!.port);
    undecodable.sendRaw(Buffer.from([0, 0, 0, 1, 0xc1]));
    await undecodable.closed;
    assert.equal((undecodable.frames[0] as { code?: string }).code, 'FULCRUM_BAD_FRAME');
    assert.ok(await eventually(() => push.online().total === 1), 'bob left with his socket');
    assert.deepEqual(push.online().users.map((u) => u.user), ['good']);
    assert.equal((await push.push('good', 'still fine')).server, server!.id);
    assert.equal(good.client.isConnected, true);
    await good.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging - a message too big for one client frame is refused up front; one just below the limit arrives', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-size');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    const big = await loginOn(server!, { user: 'big' });
    await push.start();
    assert.ok(await routeIs([push], 'big', server!.id));
    const fits = 'x'.repeat(MAX_MESSAGE_BYTES - 16);
    assert.equal((await push.push('big', fits)).acked, true);
    const tooBig = 'y'.repeat(MAX_MESSAGE_BYTES + 1);
    const tooLarge = (e: unknown) => e instanceof MessageTooLargeError && e.code === 'FULCRUM_MESSAGE_TOO_LARGE';
    await assert.rejects(push.push('big', tooBig), tooLarge);
    await assert.rejects(push.broadcast(tooBig), tooLarge);
    await assert.rejects(push.publish('room', tooBig), tooLarge);
    assert.deepEqual(big.messages.map((m) => (m.body as string).length), [fits.length]);
    assert.equal(big.client.isConnected, true, 'the client still reads frames');
    assert.equal((await push.push('big', 'small again')).acked, true);
    await big.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging - a logged-in client asked to migrate logs in on the new server first, is not kicked, keeps its rooms and is reachable there', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-migrate');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const session = new ZkSession({ connect });
    const cache = new ServerCache({ session, root });
    const client = new ClusterClient({ provider: new BalanceProvider({ source: cache, root }), reconnect: true });
    const got: unknown[] = [];
    const kicked: string[] = [];
    const migrated: string[] = [];
    client.on('message', (m) => got.push(m.body));
    client.on('kicked', (r) => kicked.push(r));
    client.on('migrated', (_f, to) => migrated.push(to.name));
    try {
      await client.connect({ user: 'mover' });
      await client.join('lobby');
      const from = servers.find((s) => s.id === client.server!.name)!;
      const to = servers.find((s) => s !== from)!;
      assert.ok(await routeIs([push], 'mover', from.id));
      const sock = [...from.connections].find((s) => from.cluster.connectionInfo(s)?.protocol)!;
      sock.write(encodeFrame({ type: 'migrate', reason: 'test' }));
      assert.ok(await eventually(() => migrated.length === 1));
      assert.deepEqual(migrated, [to.id]);
      assert.ok(await routeIs([push, from.router, to.router], 'mover', to.id), 'the route follows the move');
      assert.ok(await eventually(() => from.userCount === 0), 'the old connection was released');
      assert.equal((await push.push('mover', 'after the move')).server, to.id);
      assert.deepEqual(await push.publish('lobby', 'room after the move'), { servers: 2, recipients: 1 });
      assert.ok(await eventually(() => got.length === 2));
      assert.deepEqual(got, ['after the move', 'room after the move']);
      assert.deepEqual(kicked, [], 'the replaced old connection does not count as a kick');
      assert.equal(client.isConnected, true);
    } finally {
      await client.disconnect();
      cache.close();
      session.close();
    }
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});
