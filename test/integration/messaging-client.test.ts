import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import type { Socket } from 'node:net';
import { DisconnectedError, KickedError, LoginError, RequestRefusedError } from '../../src/errors.js';
import type { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { issueToken } from '../../src/messaging/token.js';
import { closeMessaging, loginOn, routeIs, startMessagingServers, userClient } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';
import { closeSocket, openSocket, pong } from '../helpers/socket.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const SECRET = 'client-test-secret-5e2a';
/** A re-homing client that would retry almost at once: a loop would show up as many attempts. */
const FAST_RETRY = { reconnect: true, backoffBaseMs: 1, backoffMaxMs: 5 } as const;
const expired = (user: string) => issueToken(SECRET, user, 1_000, Date.now() - 60_000);

/** Connections the server has accepted so far: one per login attempt of a client pinned to it. */
const accepted = (s: MessagingServer) => s.stats.accepted;

/** A round trip to the server on a socket of its own: everything the server got before it has been handled. */
async function barrier(s: MessagingServer): Promise<void> {
  const sock = await openSocket(s.endpoint!.port);
  await pong(sock, 1);
  await closeSocket(sock);
}

test('messaging client - an expired token stops the client after one login attempt: one refusal at the server, one stopped event, a rejected connect()', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-expired');
  const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET });
  try {
    const u = userClient(server!, FAST_RETRY);
    const stopped: Error[] = [];
    const failed: Error[] = [];
    u.client.on('stopped', (e) => stopped.push(e));
    u.client.on('failed', (e) => failed.push(e));
    const before = accepted(server!);
    await assert.rejects(u.client.connect({ user: 'eve', token: expired('eve') }), (e: unknown) => e instanceof LoginError && e.code === 'FULCRUM_TOKEN_EXPIRED');
    await barrier(server!);
    assert.equal(accepted(server!) - before, 2, 'one connection for the login, one for the barrier');
    assert.equal(u.client.state, 'stopped');
    assert.equal(stopped.length, 1);
    assert.ok(stopped[0] instanceof LoginError && (stopped[0] as LoginError).code === 'FULCRUM_TOKEN_EXPIRED');
    assert.deepEqual(failed, []);
    await u.client.disconnect();
  } finally {
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging client - a token that has expired by the time of a re-home: one re-login attempt, then stopped, no loop; a token function that refreshes keeps it going', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-relogin');
  const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET });
  try {
    let tokens = 0;
    const u = userClient(server!, FAST_RETRY);
    const stopped: Error[] = [];
    const disconnected: boolean[] = [];
    u.client.on('stopped', (e) => stopped.push(e));
    u.client.on('disconnected', (_s, again) => disconnected.push(again));
    // Valid for the first login only, as if it expired while the client was connected.
    await u.client.connect({ user: 'fay', token: () => (tokens++ === 0 ? issueToken(SECRET, 'fay', 60_000) : expired('fay')) });
    const before = accepted(server!);
    u.client.socket!.destroy(); // the connection drops
    assert.ok(await eventually(() => stopped.length > 0, 10_000), 'the client stopped');
    await barrier(server!);
    assert.equal(accepted(server!) - before, 2, 'one re-login attempt, one barrier');
    assert.equal(tokens, 2);
    assert.deepEqual(disconnected, [true]);
    assert.equal(stopped.length, 1);
    assert.equal((stopped[0] as LoginError).code, 'FULCRUM_TOKEN_EXPIRED');
    assert.equal(u.client.state, 'stopped');

    // A token function that issues a fresh token at every login re-homes as often as needed.
    const fresh = userClient(server!, FAST_RETRY);
    await fresh.client.connect({ user: 'gus', token: () => issueToken(SECRET, 'gus', 60_000) });
    const logins: string[] = [];
    fresh.client.on('loggedIn', (user) => logins.push(user));
    fresh.client.socket!.destroy();
    assert.ok(await eventually(() => logins.length === 1 && fresh.client.isConnected, 10_000));
    assert.equal(fresh.client.state, 'connected');
    await Promise.all([u.client.disconnect(), fresh.client.disconnect()]);
  } finally {
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging client - overlapping connect() calls share one attempt: one socket, one login', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-overlap');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  try {
    const u = userClient(server!);
    const before = accepted(server!);
    const sockets: Socket[] = await Promise.all([u.client.connect({ user: 'hal' }), u.client.connect(), u.client.connect({ user: 'hal' })]);
    assert.equal(new Set(sockets).size, 1, 'the same socket for every call');
    assert.equal(await u.client.connect(), sockets[0], 'and again once connected');
    await barrier(server!);
    assert.equal(accepted(server!) - before, 2, 'one connection for the client, one for the barrier');
    assert.equal(server!.stats.logins, 1);
    assert.equal(server!.userCount, 1);

    // Overlapping calls that fail share the failure too: one refusal, the same error for each.
    const [secured] = await startMessagingServers(1, { zk: connect, root, secret: SECRET });
    try {
      const v = userClient(secured!, FAST_RETRY);
      const stopped: Error[] = [];
      v.client.on('stopped', (e) => stopped.push(e));
      const b2 = accepted(secured!);
      const results = await Promise.allSettled([v.client.connect({ user: 'ida', token: expired('ida') }), v.client.connect(), v.client.connect()]);
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      assert.equal(new Set(results.map((r) => (r as PromiseRejectedResult).reason)).size, 1, 'one error object');
      await barrier(secured!);
      assert.equal(accepted(secured!) - b2, 2);
      assert.equal(stopped.length, 1);
      await v.client.disconnect();
    } finally {
      await closeMessaging([secured!]);
    }
    await u.client.disconnect();
  } finally {
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging client - join, leave and send in flight when the connection drops fail at once with FULCRUM_DISCONNECTED; the re-homed client is in exactly the rooms it was confirmed in', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-drop');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    // A long request timeout: a rejection by timeout would carry another code.
    const u = await loginOn(server!, { user: 'jo' }, { ...FAST_RETRY, sendTimeoutMs: 120_000 });
    await u.client.join('kept');
    await u.client.join('left');
    const logins: string[] = [];
    u.client.on('loggedIn', (user, srv) => logins.push(`${user}@${srv}`));

    const joining = u.client.join('lost');
    const leaving = u.client.leave('left');
    const sending = u.client.send('nobody', 'x');
    u.client.socket!.destroy(); // before any answer can arrive
    const results = await Promise.allSettled([joining, leaving, sending]);
    for (const [i, op] of ['join lost', 'leave left', 'send to nobody'].entries()) {
      const r = results[i]!;
      assert.equal(r.status, 'rejected', op);
      const e = (r as PromiseRejectedResult).reason as DisconnectedError;
      assert.ok(e instanceof DisconnectedError, `${op}: ${String(e)}`);
      assert.equal(e.code, 'FULCRUM_DISCONNECTED');
      assert.equal(e.op, op);
    }
    // Not connected (re-homing): a join fails at once as well.
    if (!u.client.isConnected) await assert.rejects(u.client.join('meanwhile'), (e: unknown) => e instanceof DisconnectedError);

    assert.ok(await eventually(() => logins.length === 1 && u.client.isConnected, 10_000), 're-homed and logged in again');
    assert.ok(await routeIs([push], 'jo', server!.id));
    assert.deepEqual([...u.client.rooms].sort(), ['kept']);
    await u.client.join('barrier'); // its pong also proves the re-joins were taken in
    assert.equal((await push.publish('kept', 'k')).recipients, 1, 'the confirmed room is joined again');
    assert.equal((await push.publish('left', 'l')).recipients, 0, 'a room being left stays left');
    assert.equal((await push.publish('lost', 'x')).recipients, 0, 'a failed join is not joined later');
    assert.deepEqual(u.messages.map((m) => [m.room, m.body]), [['kept', 'k']]);
    await u.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging client - a join the server refuses rejects with the server\'s code, and the re-homed client does not ask again', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-refused');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const u = await loginOn(server!, { user: 'kim' }, FAST_RETRY);
    await u.client.join('fine');
    const logins: string[] = [];
    u.client.on('loggedIn', (user) => logins.push(user));
    const tooLong = 'r'.repeat(200); // over the 128-byte limit: the server answers FULCRUM_BAD_FRAME and closes
    await assert.rejects(u.client.join(tooLong), (e: unknown) => e instanceof RequestRefusedError && e.code === 'FULCRUM_BAD_FRAME' && e.op === `join ${tooLong}`);
    assert.ok(await eventually(() => logins.length === 1 && u.client.isConnected, 10_000), 're-homed once');
    await u.client.join('barrier');
    assert.equal(u.client.state, 'connected');
    assert.deepEqual([...u.client.rooms].sort(), ['barrier', 'fine']);
    assert.equal((await push.publish('fine', 'f')).recipients, 1);
    assert.equal(logins.length, 1, 'no second re-home: the refused room was not sent again');
    await u.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging client - a kick stops the client once: kicked, then stopped with KickedError, no re-connect', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cl-kick');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    await push.start();
    const u = await loginOn(server!, { user: 'lee' }, FAST_RETRY);
    const events: string[] = [];
    u.client.on('kicked', (r) => events.push(`kicked ${r}`));
    u.client.on('stopped', (e) => events.push(`stopped ${(e as KickedError).code} ${(e as KickedError).reason}`));
    u.client.on('disconnected', (_s, again) => events.push(`disconnected ${again}`));
    assert.ok(await routeIs([push], 'lee', server!.id));
    const before = accepted(server!);
    assert.equal(await push.kick('lee'), true);
    assert.ok(await eventually(() => events.length === 3, 10_000));
    await barrier(server!);
    assert.deepEqual(events, ['kicked kicked', 'stopped FULCRUM_KICKED kicked', 'disconnected false']);
    assert.equal(accepted(server!) - before, 1, 'only the barrier connected');
    assert.equal(u.client.state, 'stopped');
    // connect() starts again after a stop.
    await u.client.connect();
    assert.equal(u.client.state, 'connected');
    assert.equal(u.client.kicked, undefined);
    assert.ok(await routeIs([push], 'lee', server!.id));
    await u.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});
