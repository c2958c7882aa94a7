import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoginOrder } from '../../src/messaging/login-order.js';
import { ClientProtocol, type Authorize, type SessionRouter } from '../../src/messaging/sessions/client-protocol.js';
import type { ClientSession } from '../../src/messaging/sessions/client-session.js';
import { GatewayRequests } from '../../src/messaging/sessions/gateway-requests.js';
import { resolveSessionLimits, type SessionLimitOptions } from '../../src/messaging/sessions/session-limits.js';
import { UserSessions, type SessionEvent } from '../../src/messaging/sessions/user-sessions.js';
import { FakeConnection, HeldRoutes, type Frame } from '../helpers/session-doubles.js';

const flush = () => new Promise((r) => setImmediate(r));

function setup(opts: { limits?: SessionLimitOptions; authorize?: Authorize; best?: Map<string, LoginOrder> } = {}) {
  const routes = new HeldRoutes();
  const events: string[] = [];
  const reported: Error[] = [];
  const ev = (kind: string) => (e: SessionEvent) => events.push(`${kind} ${e.user}${e.reason ? ` ${e.reason}` : ''}`);
  const users = new UserSessions({ server: () => 'me:1', maxQueuedBytes: resolveSessionLimits(opts.limits).maxQueuedBytes, onRelease: (u) => routes.delete(u), events: { login: ev('login'), logout: ev('logout'), kicked: ev('kicked') } });
  const limits = resolveSessionLimits(opts.limits);
  const pushed: [string, unknown][] = [];
  const router: SessionRouter = {
    route: (u) => opts.best?.get(u),
    previous: (u) => opts.best?.get(u),
    push: async (to, body) => {
      pushed.push([to, body]);
      return { delivered: true };
    },
    kickElsewhere: async () => undefined,
  };
  const protocol = new ClientProtocol(users, { server: () => 'me:1', ackTimeoutMs: 1_000, tokenGraceMs: 0, limits, authorize: opts.authorize, report: (e) => reported.push(e) });
  protocol.attach(routes, router);
  const requests = new GatewayRequests(users, 1_000);
  const connect = () => {
    const conn = new FakeConnection();
    const session = protocol.open(() => conn);
    return { conn, session, send: (...frames: Frame[]) => frames.forEach((f) => protocol.frame(session, f)) };
  };
  return { routes, users, protocol, requests, events, reported, pushed, connect };
}

async function loggedIn(t: ReturnType<typeof setup>, user: string) {
  const c = t.connect();
  c.send({ type: 'login', user });
  await flush();
  t.routes.ack();
  await flush();
  assert.deepEqual(c.conn.types, ['welcome']);
  return c;
}

test('client protocol - welcome only once the route is stored; frames sent meanwhile wait, reading paused, and run in order after it', async () => {
  const t = setup();
  const c = t.connect();
  c.send({ type: 'login', user: 'ann' }, { type: 'ping', seq: 1 }, { type: 'join', room: 'r' }, { type: 'leave', room: 'r' }, { type: 'join', room: 's' }, { type: 'ping', seq: 2 });
  await flush();
  assert.equal(t.routes.pending, 1, 'the route write is waiting');
  assert.deepEqual(c.conn.written, [], 'nothing before the route is stored');
  assert.equal(c.conn.paused, true);
  assert.deepEqual([t.users.userCount, t.users.stats.loggingIn], [0, 1]);
  t.routes.ack();
  await flush();
  assert.deepEqual(c.conn.written, [{ type: 'welcome', user: 'ann', server: 'me:1' }, { type: 'pong', seq: 1, id: 'me:1' }, { type: 'pong', seq: 2, id: 'me:1' }]);
  assert.equal(c.conn.paused, false);
  assert.deepEqual([...t.users.members('r')], []);
  assert.deepEqual([...t.users.members('s')].map((s) => s.user), ['ann']);
  assert.deepEqual(t.events, ['login ann']);
});

test('client protocol - a bad frame behind a login waits its turn: welcome first, then the error and the close', async () => {
  const t = setup();
  const c = t.connect();
  c.send({ type: 'login', user: 'bob' }, { type: 'join', room: 'x'.repeat(200) }, { type: 'ping', seq: 1 });
  await flush();
  t.routes.ack();
  await flush();
  assert.deepEqual(c.conn.types, ['welcome', 'error']);
  assert.equal(c.conn.written[1]!.code, 'FULCRUM_BAD_FRAME');
  assert.notEqual(c.conn.ended, undefined);
  assert.equal(t.routes.routes.has('bob'), false, 'its route went with it');
  assert.deepEqual(t.events, ['login bob', 'logout bob refused']);
});

test('client protocol - a delivery for a login in progress waits for the welcome; a broadcast skips it', async () => {
  const t = setup();
  const c = t.connect();
  c.send({ type: 'login', user: 'cy' });
  await flush();
  assert.deepEqual(await t.requests.handle({ type: 'publish', id: 'b1', body: 'all' }), { ok: true, recipients: 0 });
  const delivered = t.requests.handle({ type: 'deliver', user: 'cy', id: 'm1', body: 'early', ack: true });
  await flush();
  assert.deepEqual(c.conn.written, []);
  t.routes.ack();
  await flush();
  assert.deepEqual(c.conn.types, ['welcome', 'message']);
  c.send({ type: 'ack', id: 'm1' });
  assert.deepEqual(await delivered, { ok: true, acked: true });
});

test('client protocol - a login that is not stored within welcomeTimeoutMs is refused with FULCRUM_ROUTES_UNAVAILABLE and its route released', async () => {
  const t = setup({ limits: { welcomeTimeoutMs: 5 } });
  const c = t.connect();
  c.send({ type: 'login', user: 'dee' }, { type: 'ping', seq: 1 });
  while (c.conn.ended === undefined) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(c.conn.written.map((f) => [f.type, f.code]), [['error', 'FULCRUM_ROUTES_UNAVAILABLE']]);
  assert.equal(t.routes.routes.has('dee'), false);
  assert.deepEqual([t.users.userCount, t.users.stats.loggingIn, t.users.stats.refused], [0, 0, 1]);
  t.routes.ack(); // the late acknowledgement changes nothing
  await flush();
  assert.equal(c.conn.written.length, 1);
});

test('client protocol - past maxQueuedBytes the reader is kicked as slow, lingers longer, and the others still get every message', async () => {
  const t = setup({ limits: { maxQueuedBytes: 4_096 } });
  const slow = await loggedIn(t, 'slow');
  const fast = await loggedIn(t, 'fast');
  for (const c of [slow, fast]) c.send({ type: 'join', room: 'r' });
  slow.conn.stalled = true;
  const recipients: number[] = [];
  for (let i = 0; i < 10; i++) recipients.push((await t.requests.handle({ type: 'publish', id: i, body: 'y'.repeat(1_000), room: 'r' })).recipients!);
  assert.deepEqual(recipients, [2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(slow.conn.written.at(-1), { type: 'kicked', reason: 'slow' });
  assert.equal(slow.conn.ended, 10_000);
  assert.equal(fast.conn.written.filter((f) => f.type === 'message').length, 10);
  assert.deepEqual([t.users.stats.slowKicks, t.users.stats.kicks, t.users.userCount], [1, 1, 1]);
  assert.deepEqual(t.events.slice(2), ['kicked slow slow', 'logout slow slow']);
});

test('client protocol - inbound budget: frames past the rate close the connection with FULCRUM_RATE_LIMITED, acks are not counted, bytes are', async () => {
  const t = setup({ limits: { maxInboundFramesPerSecond: 5, maxInboundBytesPerSecond: 65_536 } });
  const a = await loggedIn(t, 'a'); // the login took one frame
  for (let i = 0; i < 50; i++) a.send({ type: 'ack', id: i });
  assert.equal(a.conn.ended, undefined, 'acks are free');
  a.send(...Array.from({ length: 20 }, (_, i) => ({ type: 'ping', seq: i })));
  // About 4 pongs (5 tokens, one spent on the login); refilling 16 would take seconds.
  const pongs = a.conn.types.filter((x) => x === 'pong').length;
  assert.ok(pongs >= 4 && pongs < 20, `${pongs} pongs`);
  assert.deepEqual(a.conn.types.slice(-2), ['pong', 'error']);
  assert.equal(a.conn.written.at(-1)!.code, 'FULCRUM_RATE_LIMITED');
  assert.deepEqual([t.users.stats.rateLimited, t.users.userCount], [1, 0]);
  const b = await loggedIn(t, 'b');
  assert.equal(t.protocol.received(b.session, 60_000), true);
  assert.equal(t.protocol.received(b.session, 60_000), false, 'over the byte budget');
  assert.equal(b.conn.written.at(-1)!.code, 'FULCRUM_RATE_LIMITED');
});

test('client protocol - rooms per connection: a join past the limit gets an error naming the room, the connection stays', async () => {
  const t = setup({ limits: { maxRoomsPerConnection: 2 } });
  const c = await loggedIn(t, 'r');
  c.send({ type: 'join', room: 'a' }, { type: 'join', room: 'b' }, { type: 'join', room: 'a' }, { type: 'join', room: 'c' }, { type: 'ping', seq: 1 });
  assert.deepEqual(c.conn.written.slice(1), [
    { type: 'error', code: 'FULCRUM_TOO_MANY_ROOMS', message: 'join c refused: already in 2 rooms', room: 'c' },
    { type: 'pong', seq: 1, id: 'me:1' },
  ]);
  c.send({ type: 'leave', room: 'a' }, { type: 'join', room: 'c' });
  assert.deepEqual([...t.users.members('c')].map((s) => s.user), ['r']);
  assert.equal(c.conn.ended, undefined);
});

test('client protocol - authorize: refusals by action, a throw refuses and is reported, an async answer keeps the frame order', async () => {
  const calls: string[] = [];
  let release: (() => void) | undefined;
  const authorize: Authorize = (r) => {
    calls.push(`${r.action} ${r.user}${r.room ? ` ${r.room}` : ''}${r.to ? ` ${r.to}` : ''}`);
    if (r.user === 'mallory') return false;
    if (r.room === 'secret' || r.to === 'boss') return false;
    if (r.room === 'boom') throw new Error('hook bug');
    if (r.room === 'slow') return new Promise<boolean>((res) => (release = () => res(true)));
    return true;
  };
  const t = setup({ authorize });
  const m = t.connect();
  m.send({ type: 'login', user: 'mallory' });
  await flush();
  assert.deepEqual(m.conn.written.map((f) => [f.type, f.code]), [['error', 'FULCRUM_FORBIDDEN']]);
  assert.equal(t.routes.routes.has('mallory'), false);

  const c = await loggedIn(t, 'eve');
  c.send({ type: 'join', room: 'secret' }, { type: 'join', room: 'boom' }, { type: 'send', id: 1, to: 'boss', body: 'x' }, { type: 'send', id: 2, to: 'pal', body: 'y' });
  await flush();
  assert.deepEqual(c.conn.written.slice(1), [
    { type: 'error', code: 'FULCRUM_FORBIDDEN', message: 'join secret refused', room: 'secret' },
    { type: 'error', code: 'FULCRUM_FORBIDDEN', message: 'join boom refused', room: 'boom' },
    { type: 'sent', id: 1, delivered: false, code: 'FULCRUM_FORBIDDEN' },
    { type: 'sent', id: 2, delivered: true },
  ]);
  assert.deepEqual(t.pushed, [['pal', 'y']]);
  assert.deepEqual(t.reported.map((e) => (e as { code?: string }).code), ['FULCRUM_AUTHORIZE_FAILED']);

  // join(slow) waits for its answer; the leave and the ping behind it wait too.
  c.send({ type: 'join', room: 'slow' }, { type: 'leave', room: 'slow' }, { type: 'ping', seq: 9 });
  await flush();
  assert.equal(c.conn.written.at(-1)!.type, 'sent', 'no pong before the answer');
  release!();
  await flush();
  assert.deepEqual(c.conn.written.at(-1), { type: 'pong', seq: 9, id: 'me:1' });
  assert.deepEqual([...t.users.members('slow')], [], 'the leave ran after the join');
  assert.equal(c.conn.paused, false);
  assert.deepEqual(calls, ['login mallory', 'login eve', 'join eve secret', 'join eve boom', 'send eve boss', 'send eve pal', 'join eve slow']);
});

test('client protocol - a re-login raises since above every known login, replaces the local one, and a newer route elsewhere kicks ours', async () => {
  const best = new Map<string, LoginOrder>();
  const t = setup({ best });
  const first = await loggedIn(t, 'zed');
  best.set('zed', { since: Date.now() + 60_000, server: 'other:1', seq: 1 }); // a clock far ahead elsewhere
  const second = t.connect();
  second.send({ type: 'login', user: 'zed' });
  await flush();
  assert.deepEqual(first.conn.written.at(-1), { type: 'kicked', reason: 'replaced' });
  assert.ok(t.routes.routes.get('zed')![0] > best.get('zed')!.since, 'since raised above the known login');
  t.routes.ack();
  await flush();
  assert.deepEqual(second.conn.types, ['welcome']);
  best.set('zed', { since: t.routes.routes.get('zed')![0] + 1, server: 'other:1', seq: 2 });
  t.protocol.routesChanged(['zed']);
  assert.deepEqual(second.conn.written.at(-1), { type: 'kicked', reason: 'replaced' });
  assert.deepEqual(t.events, ['login zed', 'kicked zed replaced', 'logout zed replaced', 'login zed', 'kicked zed replaced', 'logout zed replaced']);
});

test('client protocol - sessions hold nothing per connection until needed', async () => {
  const t = setup();
  const c = t.connect();
  const idle = (s: ClientSession) => [s.rooms, s.acks, s.backlog, s.loginWaiters];
  assert.deepEqual(idle(c.session), [undefined, undefined, undefined, undefined]);
  const d = await loggedIn(t, 'lean');
  assert.deepEqual(idle(d.session), [undefined, undefined, undefined, undefined]);
  d.send({ type: 'join', room: 'r' }, { type: 'leave', room: 'r' });
  assert.deepEqual(idle(d.session), [undefined, undefined, undefined, undefined]);
});
