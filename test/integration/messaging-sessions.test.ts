import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { InvalidArgumentError } from '../../src/errors.js';
import { MessagingServer, type SessionEvent } from '../../src/messaging/messaging-server.js';
import { parseGatewayRequest, BadGatewayRequestError } from '../../src/messaging/gateway/gateway-protocol.js';
import { Router } from '../../src/messaging/router.js';
import { ServerMetrics } from '../../src/metrics/server-metrics.js';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { parseExposition } from '../helpers/metrics.js';
import { closeMessaging, loginOn, routeIs, startMessagingServers } from '../helpers/messaging.js';
import { rawClient, type RawClient } from '../helpers/raw-client.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

async function login(port: number, user: string): Promise<RawClient> {
  const c = await rawClient(port, { autoAck: true });
  c.send({ type: 'login', user });
  await c.next((f) => f.type === 'welcome' || f.type === 'error');
  return c;
}

test('messaging sessions - an async authorize hook refuses logins, joins and sends with FULCRUM_FORBIDDEN (a failing one refuses and is reported); login, logout and kicked events name user, server and reason', async () => {
  const { root, cleanup } = await freshRoot(zk, 'sess-authz');
  const asked: string[] = [];
  const [server] = await startMessagingServers(1, {
    zk: connect,
    root,
    // Answers on a later turn of the event loop, as a database lookup would.
    authorize: (r) =>
      new Promise((resolve, reject) =>
        setImmediate(() => {
          asked.push(`${r.server === server?.id ? 'here' : r.server} ${r.action} ${r.user} ${r.room ?? r.to ?? ''}`.trim());
          if (r.room === 'boom') return reject(new Error('the hook broke'));
          resolve(r.user !== 'mallory' && r.room !== 'vip' && r.to !== 'boss');
        }),
      ),
  });
  const push = new Router({ zk: connect, root });
  const events: string[] = [];
  const errors: unknown[] = [];
  server!.on('error', (e) => errors.push((e as { code?: string }).code));
  const note = (kind: string) => (e: SessionEvent) => events.push(`${kind} ${e.user} ${e.server === server!.id ? 'here' : e.server}${e.reason ? ` ${e.reason}` : ''}`);
  server!.on('login', note('login'));
  server!.on('logout', note('logout'));
  server!.on('kicked', note('kicked'));
  try {
    await push.start();
    const mallory = await login(server!.endpoint!.port, 'mallory');
    await mallory.closed;
    assert.deepEqual(mallory.frames.map((f) => [f.type, f.code]), [['error', 'FULCRUM_FORBIDDEN']]);
    const eve = await login(server!.endpoint!.port, 'eve');
    eve.send({ type: 'join', room: 'vip' }, { type: 'join', room: 'boom' }, { type: 'join', room: 'lobby' }, { type: 'send', id: 1, to: 'boss', body: 'x' }, { type: 'ping', seq: 1 });
    await eve.next((f) => f.type === 'pong');
    assert.deepEqual(eve.frames.slice(1), [
      { type: 'error', code: 'FULCRUM_FORBIDDEN', message: 'join vip refused', room: 'vip' },
      { type: 'error', code: 'FULCRUM_FORBIDDEN', message: 'join boom refused', room: 'boom' },
      { type: 'sent', id: 1, delivered: false, code: 'FULCRUM_FORBIDDEN' },
      { type: 'pong', seq: 1, id: server!.id },
    ]);
    assert.deepEqual(await push.publish('lobby', 'hi'), { servers: 1, recipients: 1 }, 'the allowed join went through');
    assert.ok(await routeIs([push], 'eve', server!.id));
    assert.equal(await push.kick('eve'), true);
    await eve.closed;
    assert.deepEqual(eve.frames.at(-1), { type: 'kicked', reason: 'kicked' });
    const bob = await login(server!.endpoint!.port, 'bob');
    bob.socket.destroy();
    assert.ok(await eventually(() => events.length === 5));
    assert.deepEqual(events, ['login eve here', 'kicked eve here kicked', 'logout eve here kicked', 'login bob here', 'logout bob here closed']);
    assert.deepEqual(asked, ['here login mallory', 'here login eve', 'here join eve vip', 'here join eve boom', 'here join eve lobby', 'here send eve boss', 'here login bob']);
    assert.equal(server!.stats.forbidden, 3);
    assert.deepEqual(errors, ['FULCRUM_AUTHORIZE_FAILED'], 'a failing hook refuses and is reported, not dropped');
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging sessions - limits over real sockets: a join past maxRoomsPerConnection is refused and the connection stays; a flood is closed with FULCRUM_RATE_LIMITED; both in the metrics', async () => {
  const { root, cleanup } = await freshRoot(zk, 'sess-limits');
  const [server] = await startMessagingServers(1, { zk: connect, root, maxRoomsPerConnection: 2, maxInboundFramesPerSecond: 50 });
  const metrics = new ServerMetrics(server!.cluster, { messaging: server!, defaultMetrics: false });
  try {
    const port = server!.endpoint!.port;
    const member = await login(port, 'member');
    member.send({ type: 'join', room: 'a' }, { type: 'join', room: 'b' }, { type: 'join', room: 'c' }, { type: 'ping', seq: 1 });
    await member.next((f) => f.type === 'pong');
    assert.deepEqual(member.frames.slice(1).map((f) => [f.type, f.code, f.room]), [
      ['error', 'FULCRUM_TOO_MANY_ROOMS', 'c'],
      ['pong', undefined, undefined],
    ]);
    const flood = await login(port, 'flood');
    flood.send(...Array.from({ length: 500 }, (_, i) => ({ type: 'ping', seq: i })));
    await flood.closed;
    assert.deepEqual(flood.frames.at(-1)!.code, 'FULCRUM_RATE_LIMITED');
    assert.ok(flood.frames.filter((f) => f.type === 'pong').length < 500);
    member.send({ type: 'ping', seq: 2 });
    await member.next((f) => f.type === 'pong' && f.seq === 2);
    const m = parseExposition(await metrics.render());
    assert.deepEqual(
      ['fulcrum_server_users', 'fulcrum_server_logins_total', 'fulcrum_server_forbidden_total', 'fulcrum_server_rate_limited_total', 'fulcrum_server_slow_kicks_total', 'fulcrum_server_logins_pending'].map((n) => m.get(n)),
      [1, 2, 1, 1, 0, 0],
    );
    member.socket.destroy();
  } finally {
    metrics.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging sessions - the gateway answers a request that breaks the rules with FULCRUM_BAD_FRAME and closes that peer, acting on nothing; bad requests are counted', async () => {
  const { root, cleanup } = await freshRoot(zk, 'sess-gw');
  const [server] = await startMessagingServers(1, { zk: connect, root });
  try {
    const victim = await loginOn(server!, { user: 'victim' });
    const ok = { type: 'deliver', rid: 1, user: 'victim', id: 'ok', body: 'fine' };
    const cases: [string, Record<string, unknown> | unknown[]][] = [
      ['not a map', [1, 2]],
      ['no rid', { type: 'deliver', user: 'victim', id: 'a', body: 'a' }],
      ['negative rid', { ...ok, rid: -1 }],
      ['unknown type', { type: 'explode', rid: 1 }],
      ['numeric user', { ...ok, user: 42 }],
      ['long user', { ...ok, user: 'u'.repeat(129) }],
      ['no body', { type: 'deliver', rid: 1, user: 'victim', id: 'a' }],
      ['ack not boolean', { ...ok, ack: 'yes' }],
      ['ackTimeoutMs zero', { ...ok, ack: true, ackTimeoutMs: 0 }],
      ['ackTimeoutMs huge', { ...ok, ack: true, ackTimeoutMs: 1e9 }],
      ['bad from', { ...ok, from: '' }],
      ['long room', { type: 'publish', rid: 1, id: 'p', body: 'p', room: 'r'.repeat(300) }],
      ['empty reason', { type: 'kick', rid: 1, user: 'victim', reason: '' }],
      ['long reason', { type: 'kick', rid: 1, user: 'victim', reason: 'x'.repeat(100) }],
      ['bad before', { type: 'kick', rid: 1, user: 'victim', reason: 'r', before: { since: 'soon' } }],
      ['where without a user', { type: 'where', rid: 1 }],
    ];
    for (const [what, req] of cases) {
      const peer = await rawClient(server!.gatewayEndpoint!.port);
      await peer.next((f) => f.type === 'hello');
      peer.send({ type: 'auth' }, req as never, ok);
      await peer.closed;
      assert.deepEqual(peer.frames.map((f) => [f.type, f.code]), [['hello', undefined], ['ready', undefined], ['error', 'FULCRUM_BAD_FRAME']], what);
    }
    const bytes = await rawClient(server!.gatewayEndpoint!.port);
    bytes.socket.write(Buffer.from([0, 0, 0, 1, 0xc1]));
    await bytes.closed;
    assert.equal(bytes.frames.at(-1)!.code, 'FULCRUM_BAD_FRAME', 'undecodable bytes');
    assert.equal(server!.stats.gatewayBadRequests, cases.length + 1);
    // Nothing any bad peer sent (not even the valid request behind the bad one) reached the user; a good peer still does.
    const good = await rawClient(server!.gatewayEndpoint!.port);
    await good.next((f) => f.type === 'hello');
    good.send({ type: 'auth' }, ok);
    assert.deepEqual(await good.next((f) => f.type === 'result'), { type: 'result', rid: 1, ok: true });
    assert.ok(await eventually(() => victim.messages.length === 1));
    good.send({ ...ok, rid: 2, id: 'barrier', ack: true }); // acked: everything before it has been read by the client
    assert.deepEqual(await good.next((f) => f.type === 'result' && f.rid === 2), { type: 'result', rid: 2, ok: true, acked: true });
    assert.deepEqual(victim.messages.map((m) => m.body), ['fine', 'fine']);
    good.socket.destroy();
    await victim.client.disconnect();
  } finally {
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging sessions - parseGatewayRequest keeps exactly the known fields of a valid request', () => {
  assert.deepEqual(parseGatewayRequest({ type: 'deliver', rid: 3, user: 'u', id: 7, body: { a: 1 }, ack: true, ackTimeoutMs: 500, extra: 'dropped' }), { type: 'deliver', rid: 3, user: 'u', id: 7, body: { a: 1 }, ack: true, ackTimeoutMs: 500 });
  assert.deepEqual(parseGatewayRequest({ type: 'publish', rid: 0, id: 'p', body: null, room: 'r', from: 'f' }), { type: 'publish', rid: 0, id: 'p', body: null, from: 'f', room: 'r' });
  assert.deepEqual(parseGatewayRequest({ type: 'kick', rid: 1, user: 'u', reason: 'replaced', before: { since: 5, server: 's:1', seq: 2, x: 1 } }), { type: 'kick', rid: 1, user: 'u', reason: 'replaced', before: { since: 5, server: 's:1', seq: 2 } });
  assert.deepEqual(parseGatewayRequest({ type: 'where', rid: 2, user: 'u', extra: 1 }), { type: 'where', rid: 2, user: 'u' });
  assert.throws(() => parseGatewayRequest({ type: 'deliver', rid: 1.5, user: 'u', id: 1, body: 1 }), BadGatewayRequestError);
});

test('messaging sessions - one server id: a ClusterServer id must be a node name; routes, welcome, pong and gateway results use the same id', async () => {
  for (const id of ['a/b', '', '.', '..', 'x\u0001', 'é'.repeat(65)]) assert.throws(() => new ClusterServer({ zk: '127.0.0.1:1', id }), InvalidArgumentError, JSON.stringify(id));
  const { root, cleanup } = await freshRoot(zk, 'sess-id');
  const server = new MessagingServer({ zk: connect, root, port: 0, id: 'chat-7' });
  const push = new Router({ zk: connect, root });
  try {
    await server.listen();
    await push.start();
    assert.equal(server.id, 'chat-7');
    assert.equal(server.cluster.nodePath, `${root}/chat-7`);
    const c = await login(server.endpoint!.port, 'ida');
    c.send({ type: 'ping', seq: 1 });
    const pong = await c.next((f) => f.type === 'pong');
    assert.deepEqual([c.frames[0]!.server, pong.id], ['chat-7', 'chat-7']);
    assert.ok(await routeIs([push], 'ida', 'chat-7'));
    assert.equal((await push.push('ida', 'x')).server, 'chat-7');
    c.socket.destroy();
  } finally {
    push.close();
    await server.close();
    await cleanup();
  }
});
