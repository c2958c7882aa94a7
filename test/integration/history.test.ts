import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { adminToken } from '../../src/alloc/admin-auth.js';
import type { Recovery } from '../../src/client/messaging-session.js';
import { userStream } from '../../src/messaging/history/history-engine.js';
import { MemoryHistory } from '../../src/messaging/history/memory-history.js';
import { RedisHistory, streamKeys, DEFAULT_REDIS_KEY_PREFIX } from '../../src/messaging/history/redis-history.js';
import { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { request } from '../helpers/alloc-fixture.js';
import { startMessagingAlloc } from '../helpers/alloc-messaging.js';
import { eventually } from '../helpers/eventually.js';
import { closeMessaging, loginOn, routeIs, startMessagingServers } from '../helpers/messaging.js';
import { rawClient, type Frame } from '../helpers/raw-client.js';
import { testRedis } from '../helpers/redis.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';

let redis: string;
before(async () => {
  redis = await testRedis();
});
/** A user or room name no earlier run used (streams outlive a run in Redis for their TTL). */
const fresh = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;
const post = (url: string, path: string, body: object, headers: Record<string, string> = {}) => request(`${url}${path}`, { method: 'POST', body, headers });
const messagesOf = (frames: Frame[]) => frames.filter((f) => f.type === 'message');

test('history - a push to an offline user answers 202 and arrives in order at the next login; since replays exactly the gap (raw client, from the README)', async () => {
  const f = await startMessagingAlloc({ servers: 2, label: 'hist-raw', service: { history: { redis } }, server: { history: { redis } } });
  const user = fresh('raw');
  const store = new RedisHistory({ redis });
  try {
    const stored = [];
    for (const text of ['one', 'two', 'three']) {
      const r = await post(f.url, 'push', { user, message: { text } });
      assert.equal(r.status, 202, r.text);
      stored.push(r.json<{ stored: boolean; delivered: boolean; acked: boolean; epoch: string; offset: number; code: string }>());
    }
    assert.deepEqual(stored.map((s) => [s.stored, s.delivered, s.offset, s.code]), [
      [true, false, 1, 'FULCRUM_USER_OFFLINE'],
      [true, false, 2, 'FULCRUM_USER_OFFLINE'],
      [true, false, 3, 'FULCRUM_USER_OFFLINE'],
    ]);
    const epoch = stored[0]!.epoch;
    assert.ok(stored.every((s) => s.epoch === epoch));

    // Login without since: welcome {recovered, epoch, offset}, then the three, in order, before anything live.
    const port = f.servers[0]!.endpoint!.port;
    const a = await rawClient(port, { autoAck: true });
    a.send({ type: 'login', user });
    const welcome = await a.next((m) => m.type === 'welcome');
    assert.deepEqual(welcome, { type: 'welcome', user, server: f.servers[0]!.id, recovered: true, epoch, offset: 3 });
    await a.next((m) => m.type === 'message' && m.offset === 3);
    assert.deepEqual(messagesOf(a.frames).map((m) => [m.body, m.offset, m.epoch]), [
      [{ text: 'one' }, 1, epoch],
      [{ text: 'two' }, 2, epoch],
      [{ text: 'three' }, 3, epoch],
    ]);
    const live = await post(f.url, 'push', { user, message: 'four' });
    assert.equal(live.status, 200, live.text);
    assert.deepEqual({ ...live.json<object>(), id: undefined }, { delivered: true, acked: true, server: f.servers[0]!.id, id: undefined, epoch, offset: 4 });
    assert.equal(messagesOf(a.frames).at(-1)!.offset, 4);
    a.socket.destroy();
    await a.closed;

    // The acked cursor (acks coalesced) reaches 4: a login without since gets nothing again.
    assert.ok(await eventually(async () => (await store.read(userStream(user), { from: 'acked', limit: 0 })).after === 4), 'acked cursor at 4');
    // since {epoch, 2} on the other server: exactly 3 and 4, recovered.
    const b = await rawClient(f.servers[1]!.endpoint!.port, { autoAck: true });
    b.send({ type: 'login', user, since: { epoch, offset: 2 } });
    assert.deepEqual(await b.next((m) => m.type === 'welcome'), { type: 'welcome', user, server: f.servers[1]!.id, recovered: true, epoch, offset: 4 });
    await b.next((m) => m.type === 'message' && m.offset === 4);
    b.send({ type: 'ping', seq: 1 });
    await b.next((m) => m.type === 'pong');
    assert.deepEqual(messagesOf(b.frames).map((m) => m.offset), [3, 4]);
    b.socket.destroy();
    await b.closed;
    const c = await rawClient(port, { autoAck: true });
    c.send({ type: 'login', user });
    assert.equal((await c.next((m) => m.type === 'welcome')).recovered, true);
    c.send({ type: 'ping', seq: 1 });
    await c.next((m) => m.type === 'pong');
    assert.deepEqual(messagesOf(c.frames), [], 'everything was acked: nothing replayed');
    c.socket.destroy();

    // Rooms: join {room, since} → joined, then the missed messages.
    const room = fresh('room');
    const pubs = [];
    for (const n of [1, 2, 3]) pubs.push((await post(f.url, `rooms/${room}/publish`, { message: n })).json<{ recipients: number; epoch: string; offset: number }>());
    assert.deepEqual(pubs.map((p) => [p.recipients, p.offset]), [[0, 1], [0, 2], [0, 3]]);
    const d = await rawClient(port, { autoAck: true });
    d.send({ type: 'login', user }, { type: 'join', room, since: { epoch: pubs[0]!.epoch, offset: 1 } }, { type: 'ping', seq: 9 });
    await d.next((m) => m.type === 'pong');
    const after = d.frames.slice(d.frames.findIndex((m) => m.type === 'joined'));
    assert.deepEqual(after[0], { type: 'joined', room, recovered: true, epoch: pubs[0]!.epoch, offset: 3 });
    assert.deepEqual(after.slice(1, 3).map((m) => [m.type, m.room, m.body, m.offset]), [['message', room, 2, 2], ['message', room, 3, 3]]);
    d.socket.destroy();
  } finally {
    await store.close();
    await f.close();
  }
});

test('history - a trimmed gap or a lost stream gives recovered: false, and what is held still comes', async () => {
  const history = { redis, users: { maxMessages: 3 } };
  const f = await startMessagingAlloc({ servers: 1, label: 'hist-lost', service: { history }, server: { history } });
  const user = fresh('trim');
  const raw = new Redis(redis);
  try {
    const r = [];
    for (let i = 1; i <= 5; i++) r.push((await post(f.url, 'push', { user, message: i })).json<{ epoch: string; offset: number }>());
    const epoch = r[0]!.epoch;
    const port = f.servers[0]!.endpoint!.port;
    const a = await rawClient(port, { autoAck: true });
    a.send({ type: 'login', user, since: { epoch, offset: 1 } });
    assert.deepEqual(await a.next((m) => m.type === 'welcome'), { type: 'welcome', user, server: f.servers[0]!.id, recovered: false, epoch, offset: 5 });
    await a.next((m) => m.type === 'message' && m.offset === 5);
    assert.deepEqual(messagesOf(a.frames).map((m) => m.body), [3, 4, 5], 'messages 2 was trimmed; 3–5 are held');
    a.socket.destroy();
    await a.closed;
    // The store loses the stream (flushed, evicted): a new epoch; a client with the old one is told.
    const k = streamKeys(DEFAULT_REDIS_KEY_PREFIX, userStream(user));
    await raw.del(k.stream, k.meta);
    const again = (await post(f.url, 'push', { user, message: 'new' })).json<{ epoch: string; offset: number }>();
    assert.notEqual(again.epoch, epoch);
    assert.equal(again.offset, 1);
    const b = await rawClient(port, { autoAck: true });
    b.send({ type: 'login', user, since: { epoch, offset: 5 } });
    assert.deepEqual(await b.next((m) => m.type === 'welcome'), { type: 'welcome', user, server: f.servers[0]!.id, recovered: false, epoch: again.epoch, offset: 1 });
    assert.deepEqual((await b.next((m) => m.type === 'message')).body, 'new');
    b.socket.destroy();
  } finally {
    raw.disconnect();
    await f.close();
  }
});

test('history - GET /history/{user} and /rooms/{room}/history page through a stream; with a secret they need the admin token; both are in /openapi.json', async () => {
  const secret = 'history-secret';
  const f = await startMessagingAlloc({ servers: 1, label: 'hist-http', secret, service: { history: { redis } }, server: { history: { redis } } });
  const user = fresh('http');
  const auth = { authorization: `Bearer ${adminToken(secret)}` };
  try {
    for (let i = 1; i <= 4; i++) assert.equal((await post(f.url, 'push', { user, message: { i }, from: 'ops' }, auth)).status, 202);
    assert.equal((await request(`${f.url}history/${user}`)).status, 401, 'users\' messages are not open to everyone');
    const all = (await request(`${f.url}history/${user}?limit=2`, { headers: auth })).json<{ user: string; epoch: string; offset: number; recovered: boolean; entries: { offset: number; body: unknown; from?: string; id: string; at: number }[] }>();
    assert.deepEqual([all.user, all.offset, all.recovered], [user, 4, true]);
    assert.deepEqual(all.entries.map((e) => [e.offset, e.body, e.from]), [[1, { i: 1 }, 'ops'], [2, { i: 2 }, 'ops']]);
    const next = (await request(`${f.url}history/${user}?since=2&epoch=${all.epoch}`, { headers: auth })).json<typeof all>();
    assert.deepEqual(next.entries.map((e) => e.offset), [3, 4]);
    const other = (await request(`${f.url}history/${user}?since=2&epoch=nope`, { headers: auth })).json<typeof all>();
    assert.equal(other.recovered, false);
    const room = fresh('hroom');
    await post(f.url, `rooms/${room}/publish`, { message: 'hello' }, auth);
    const rh = (await request(`${f.url}rooms/${room}/history`, { headers: auth })).json<typeof all & { room: string }>();
    assert.deepEqual([rh.room, rh.offset, rh.entries.map((e) => e.body)], [room, 1, ['hello']]);
    for (const bad of ['since=-1', 'limit=0', 'limit=1001', 'epoch=', 'since=x', 'other=1']) {
      const r = await request(`${f.url}history/${user}?${bad}`, { headers: auth });
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'FULCRUM_ALLOC_BAD_REQUEST');
    }
    const doc = (await request(`${f.url}openapi.json`)).json<{ paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown }>> }>();
    assert.ok(doc.paths['/history/{user}']?.get?.security, 'admin-authenticated in the document');
    assert.ok(doc.paths['/rooms/{room}/history']?.get);
    assert.ok(doc.paths['/push']!.post!.responses['202'], 'POST /push documents 202');
  } finally {
    await f.close();
  }
});

test('history - ClusterClient: positions survive re-homes, messages stored meanwhile arrive once and in order, a private send to an offline user is stored', async () => {
  const connect = await testZk();
  const raw = await rawZk(connect);
  const { root, cleanup } = await freshRoot(raw, 'hist-client');
  const servers = await startMessagingServers(2, { zk: connect, root, history: { redis } });
  const router = new Router({ zk: connect, root, history: { redis } });
  const user = fresh('cc');
  const room = fresh('ccroom');
  try {
    await router.start();
    const u = await loginOn(servers[0]!, { user }, { reconnect: true, backoffBaseMs: 10 });
    const recoveries: [string, Recovery][] = [];
    u.client.on('recovered', (r) => recoveries.push(['recovered', r]));
    u.client.on('recovery-failed', (r) => recoveries.push(['failed', r]));
    await u.client.join(room);
    assert.equal((await router.push(user, 'live-1')).delivered, true);
    await router.publish(room, 'r1');
    assert.ok(await eventually(() => u.messages.length === 2));
    // The connection drops; while it is down, one push and one publish are stored.
    const acks: unknown[] = [];
    u.client.socket!.destroy();
    const offline = await router.push(user, 'while-away');
    acks.push(offline.delivered);
    await router.publish(room, 'r2');
    assert.ok(await eventually(() => u.messages.length === 4), `got ${JSON.stringify(u.messages.map((m) => m.body))}`);
    assert.deepEqual(u.messages.map((m) => m.body), ['live-1', 'r1', 'while-away', 'r2']);
    assert.ok(recoveries.some(([k, r]) => k === 'recovered' && r.room === undefined), 'the re-login recovered the user stream');
    assert.ok(recoveries.some(([k, r]) => k === 'recovered' && r.room === room), 'the re-join recovered the room');
    assert.deepEqual(u.client.position(), { epoch: u.messages[2]!.epoch, offset: 2 });
    // A private message to a user who is offline: stored, delivered at its login, with `from`.
    const peer = fresh('peer');
    const sent = await u.client.send(peer, 'see you');
    assert.deepEqual(sent, { delivered: false, code: 'FULCRUM_USER_OFFLINE', stored: true });
    const p = await loginOn(servers[1]!, { user: peer });
    assert.ok(await eventually(() => p.messages.length === 1));
    assert.deepEqual([p.messages[0]!.body, p.messages[0]!.from, p.messages[0]!.offset], ['see you', user, 1]);
    await p.client.disconnect();
    await u.client.disconnect();
    assert.equal(u.client.duplicates >= 0, true);
  } finally {
    router.close();
    await closeMessaging(servers);
    await cleanup().catch(() => {});
    raw.close();
  }
});

test('history - a memory history is refused as shared: a server keeping history in memory reports FULCRUM_HISTORY_NOT_SHARED when another server joins', async () => {
  const connect = await testZk();
  const raw = await rawZk(connect);
  const { root, cleanup } = await freshRoot(raw, 'hist-mem');
  const engine = new MemoryHistory();
  const lonely = new MessagingServer({ zk: connect, root, port: 0, history: { engine } });
  const errors: Error[] = [];
  lonely.on('error', (e) => errors.push(e));
  let other: MessagingServer[] = [];
  try {
    await lonely.listen();
    // Alone it serves history: an offline push is stored and replayed at login.
    const router = new Router({ zk: connect, root, history: { engine } });
    await router.start();
    assert.equal((await router.push('solo', 'kept')).delivered, false);
    const u = await loginOn(lonely, { user: 'solo' });
    assert.ok(await eventually(() => u.messages.length === 1));
    await u.client.disconnect();
    router.close();
    assert.deepEqual(errors, []);
    other = await startMessagingServers(1, { zk: connect, root });
    assert.ok(await eventually(() => errors.length > 0), 'the second server is reported');
    assert.equal((errors[0] as { code?: string }).code, 'FULCRUM_HISTORY_NOT_SHARED');
    assert.ok((errors[0] as Error).message.includes(other[0]!.id));
    assert.ok(await routeIs([lonely.router], 'nobody', undefined));
  } finally {
    await closeMessaging([lonely, ...other]);
    await engine.close();
    await cleanup().catch(() => {});
    raw.close();
  }
});
