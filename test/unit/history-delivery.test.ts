import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryUnavailableError } from '../../src/errors.js';
import { AckCursors } from '../../src/messaging/history/ack-cursors.js';
import { roomStream, userStream, type HistoryEngine, type HistoryPage, type ReadOptions, type StreamRef } from '../../src/messaging/history/history-engine.js';
import { MemoryHistory } from '../../src/messaging/history/memory-history.js';
import { ClientProtocol, type SessionRouter } from '../../src/messaging/sessions/client-protocol.js';
import { GatewayRequests } from '../../src/messaging/sessions/gateway-requests.js';
import { HistoryDelivery } from '../../src/messaging/sessions/history-delivery.js';
import { resolveSessionLimits } from '../../src/messaging/sessions/session-limits.js';
import { UserSessions } from '../../src/messaging/sessions/user-sessions.js';
import { FakeConnection, HeldRoutes, type Frame } from '../helpers/session-doubles.js';

const flush = () => new Promise((r) => setImmediate(r));

/** A memory engine whose reads can be held (answered later, with what the store held when they ran) or failed. */
class GatedHistory extends MemoryHistory {
  holding = false;
  failing = false;
  reads = 0;
  private readonly held: (() => void)[] = [];
  override async read(stream: StreamRef, opts: ReadOptions): Promise<HistoryPage> {
    this.reads++;
    if (this.failing) throw new HistoryUnavailableError('read failed: test');
    const page = await super.read(stream, opts);
    if (!this.holding) return page;
    return new Promise((resolve) => this.held.push(() => resolve(page)));
  }
  release(): void {
    this.holding = false;
    for (const r of this.held.splice(0)) r();
  }
}

function setup() {
  const engine = new GatedHistory();
  const routes = new HeldRoutes();
  const reported: Error[] = [];
  const users = new UserSessions({ server: () => 'me:1', maxQueuedBytes: 1 << 20, onRelease: (u) => routes.delete(u) });
  const acks = new AckCursors(engine, (e) => reported.push(e), 5);
  const history = new HistoryDelivery(users, engine, acks, (e) => reported.push(e));
  const router: SessionRouter = { route: () => undefined, previous: () => undefined, push: async () => ({ delivered: true }), kickElsewhere: async () => undefined };
  const protocol = new ClientProtocol(users, { server: () => 'me:1', ackTimeoutMs: 1_000, tokenGraceMs: 0, limits: resolveSessionLimits({}), report: (e) => reported.push(e), history });
  protocol.attach(routes, router);
  const requests = new GatewayRequests(users, 1_000, history);
  const connect = () => {
    const conn = new FakeConnection();
    const session = protocol.open(() => conn);
    return { conn, session, send: (...frames: Frame[]) => frames.forEach((f) => protocol.frame(session, f)) };
  };
  /** Stores a push the way a router does; `deliver` also sends it to this server's gateway (not awaited). */
  const push = async (user: string, body: unknown, deliver = true) => {
    const id = `p-${String(body)}`;
    const pos = await engine.append(userStream(user), { id, body });
    const answer = deliver ? requests.handle({ type: 'deliver', user, id, body, ack: true, ackTimeoutMs: 1_000, ...pos }) : undefined;
    return { id, pos, answer };
  };
  const publish = async (room: string, body: unknown) => {
    const id = `r-${String(body)}`;
    const pos = await engine.append(roomStream(room), { id, body });
    return { pos, answer: requests.handle({ type: 'publish', id, room, body, ...pos }) };
  };
  return { engine, routes, users, history, acks, protocol, requests, connect, push, publish, reported };
}

const messages = (c: FakeConnection, room?: string) => c.written.filter((f) => f.type === 'message' && f.room === room).map((f) => f.body);

async function login(t: ReturnType<typeof setup>, user: string, since?: { epoch: string; offset: number }) {
  const c = t.connect();
  c.send({ type: 'login', user, ...(since ? { since } : {}) });
  await flush();
  t.routes.ack();
  await flush();
  await flush();
  return c;
}

test('history delivery - a login gets what was stored while offline right after welcome; a live push during the replay read follows in order', async () => {
  const t = setup();
  await t.push('ann', 1, false);
  await t.push('ann', 2, false);
  t.engine.holding = true;
  const c = t.connect();
  c.send({ type: 'login', user: 'ann' });
  await flush();
  t.routes.ack();
  await flush();
  const live = await t.push('ann', 3); // routed here while the login reads the store: it waits
  await flush();
  assert.equal(c.conn.written.length, 0, 'nothing before the welcome');
  t.engine.release();
  await flush();
  await flush();
  assert.deepEqual(c.conn.types, ['welcome', 'message', 'message', 'message']);
  const w = c.conn.written[0]!;
  assert.deepEqual([w.recovered, w.offset, typeof w.epoch], [true, 2, 'string'], 'the welcome names the stream as the login read it');
  assert.deepEqual(messages(c.conn), [1, 2, 3]);
  assert.deepEqual(c.conn.written.slice(1).map((f) => f.offset), [1, 2, 3]);
  c.send({ type: 'ack', id: live.id });
  assert.deepEqual(await live.answer, { ok: true, acked: true });
});

test('history delivery - a delivery past the next offset fills the gap from the store; the one that arrives late is not written again and counts as acked once acked', async () => {
  const t = setup();
  const c = await login(t, 'bo');
  const first = await t.push('bo', 1);
  c.send({ type: 'ack', id: first.id });
  await first.answer;
  const late = await t.push('bo', 2, false); // stored by one router, its delivery still on the way
  const ahead = await t.push('bo', 3); // another router's, faster
  await flush();
  await flush();
  assert.deepEqual(messages(c.conn), [1, 2, 3], 'the gap is read from the store, in order');
  assert.equal(t.history.stats.gapFills, 1);
  c.send({ type: 'ack', id: late.id }, { type: 'ack', id: ahead.id });
  const lateAnswer = await t.requests.handle({ type: 'deliver', user: 'bo', id: late.id, body: 2, ack: true, ackTimeoutMs: 1_000, ...late.pos });
  assert.deepEqual(lateAnswer, { ok: true, acked: true }, 'already written and acked: answered at once');
  assert.deepEqual(messages(c.conn), [1, 2, 3], 'not written twice');
  assert.deepEqual(await ahead.answer, { ok: true, acked: true });
  assert.equal(t.history.stats.duplicatesDropped, 2, 'the fast one, written from the store already, and the late one');
});

test('history delivery - since replays exactly the gap (recovered); another epoch replays the stream with recovered false', async () => {
  const t = setup();
  const p = [];
  for (let i = 1; i <= 4; i++) p.push((await t.push('cy', i, false)).pos);
  const c = await login(t, 'cy', p[1]);
  assert.equal(c.conn.written[0]!.recovered, true);
  assert.deepEqual(messages(c.conn), [3, 4]);
  c.conn.end(0);
  t.users.closed(c.session);
  const lost = await login(t, 'cy', { epoch: 'gone', offset: 2 });
  assert.equal(lost.conn.written[0]!.recovered, false);
  assert.deepEqual(messages(lost.conn), [1, 2, 3, 4]);
});

test('history delivery - acks move the acked cursor to the highest contiguous offset, one coalesced write; a login without since resumes after it', async () => {
  const t = setup();
  const c = await login(t, 'di');
  const sent = [];
  for (let i = 1; i <= 4; i++) sent.push(await t.push('di', i));
  await flush();
  // 2 and 4 first: the cursor waits for 1; then 1 makes 1–2 contiguous; 3 stays unacked.
  c.send({ type: 'ack', id: sent[1]!.id }, { type: 'ack', id: sent[3]!.id }, { type: 'ack', id: sent[0]!.id });
  await t.acks.flush();
  assert.equal(t.acks.writes, 1, 'one write for the three acks');
  assert.equal((await t.engine.read(userStream('di'), { from: 'acked', limit: 0 })).after, 2);
  t.users.closed(c.session);
  const again = await login(t, 'di');
  assert.deepEqual(messages(again.conn), [3, 4], 'the unacked one comes again, with what follows');
});

test('history delivery - join with since: joined, the missed room messages, then live ones; without since: the top and nothing replayed', async () => {
  const t = setup();
  const c = await login(t, 'ed');
  const p = [];
  for (let i = 1; i <= 3; i++) p.push((await t.publish('lobby', i)).pos);
  t.engine.holding = true;
  c.send({ type: 'join', room: 'lobby', since: p[0] }, { type: 'ping', seq: 7 });
  await flush();
  const live = await t.publish('lobby', 4); // a member already: waits behind the replay
  await flush();
  t.engine.release();
  await flush();
  await flush();
  assert.deepEqual(c.conn.types.slice(1), ['joined', 'message', 'message', 'message', 'pong']);
  assert.deepEqual(c.conn.written[1], { type: 'joined', room: 'lobby', epoch: p[0]!.epoch, offset: 3, recovered: true });
  assert.deepEqual(messages(c.conn, 'lobby'), [2, 3, 4]);
  assert.deepEqual(await live.answer, { ok: true, recipients: 1 });
  const f = await login(t, 'fay');
  f.send({ type: 'join', room: 'lobby' });
  await flush();
  assert.deepEqual(f.conn.written[1], { type: 'joined', room: 'lobby', epoch: p[0]!.epoch, offset: 4 });
  await t.publish('lobby', 5);
  assert.deepEqual(messages(f.conn, 'lobby'), [5]);
  assert.ok(c.conn.written.every((m) => m.type !== 'message' || m.room !== 'lobby' || m.broadcast === undefined));
});

test('history delivery - a room gap read once is shared by every member waiting for it', async () => {
  const t = setup();
  const members = [];
  for (const u of ['g1', 'g2', 'g3']) {
    const c = await login(t, u);
    c.send({ type: 'join', room: 'r' });
    await flush();
    members.push(c);
  }
  const readsBefore = t.engine.reads;
  await t.engine.append(roomStream('r'), { id: 'skipped', body: 1 }); // its publish never reaches this server
  await t.publish('r', 2);
  await flush();
  await flush();
  for (const m of members) assert.deepEqual(messages(m.conn, 'r'), [1, 2]);
  assert.equal(t.engine.reads - readsBefore, 1, 'one read for three members');
});

test('history delivery - the store failing at login refuses it with FULCRUM_HISTORY_UNAVAILABLE; failing during a gap fill closes the connection', async () => {
  const t = setup();
  t.engine.failing = true;
  const c = t.connect();
  c.send({ type: 'login', user: 'hal' });
  await flush();
  t.routes.ack();
  await flush();
  await flush();
  assert.deepEqual(c.conn.types, ['error']);
  assert.equal(c.conn.written[0]!.code, 'FULCRUM_HISTORY_UNAVAILABLE');
  assert.notEqual(c.conn.ended, undefined);
  t.engine.failing = false;
  const d = await login(t, 'ida');
  await t.push('ida', 1, false);
  t.engine.failing = true;
  await t.push('ida', 2);
  await flush();
  assert.deepEqual(d.conn.types, ['welcome', 'error']);
  assert.equal(d.conn.written[1]!.code, 'FULCRUM_HISTORY_UNAVAILABLE');
  assert.equal(t.history.stats.failures, 2);
  assert.equal(t.reported.length, 1, 'reported once, not per connection');
});

test('history delivery - the stream lost while a user is online: the connection follows the new epoch from its start', async () => {
  const t = setup();
  const c = await login(t, 'jo');
  await t.push('jo', 1);
  t.engine.clear();
  await t.push('jo', 'new-1');
  await flush();
  await flush();
  assert.deepEqual(messages(c.conn), [1, 'new-1']);
  const [a, b] = c.conn.written.filter((f) => f.type === 'message');
  assert.notEqual(a!.epoch, b!.epoch);
  assert.equal(b!.offset, 1);
});

test('history delivery - a catch-up writes what was stored while deliveries could not reach this server', async () => {
  const t = setup();
  const c = await login(t, 'kim');
  c.send({ type: 'join', room: 'k' });
  await flush();
  await t.push('kim', 1, false);
  await t.engine.append(roomStream('k'), { id: 'x', body: 'room' });
  t.history.catchUp(c.session);
  await flush();
  await flush();
  assert.deepEqual(messages(c.conn), [1]);
  assert.deepEqual(messages(c.conn, 'k'), ['room']);
});

test('history delivery - a broadcast is not stored: no offset, marked broadcast', async () => {
  const t = setup();
  const c = await login(t, 'lu');
  assert.deepEqual(await t.requests.handle({ type: 'publish', id: 'b', body: 'all' }), { ok: true, recipients: 1 });
  assert.deepEqual(c.conn.written[1], { type: 'message', id: 'b', body: 'all', broadcast: true });
});

test('history delivery - engines share one interface', () => {
  const e: HistoryEngine = new MemoryHistory();
  assert.equal(e.kind, 'memory');
  void e.close();
});
