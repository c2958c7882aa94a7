import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectedError, LoginError, RequestRefusedError } from '../../src/errors.js';
import { MessagingSession, type ReceivedMessage } from '../../src/client/messaging-session.js';
import type { FrameReceiver, Transport } from '../../src/client/transport.js';

/** An in-memory transport: records what the session sends; the test plays the server. */
class FakeTransport implements Transport {
  readonly sent: Record<string, unknown>[] = [];
  readonly closed: Promise<Error | undefined>;
  private receiver: FrameReceiver | undefined;
  private readonly waiting: unknown[] = [];
  private close!: (e: Error | undefined) => void;
  isOpen = true;
  constructor(readonly peer: string) {
    this.closed = new Promise((r) => (this.close = r));
  }
  send(frame: object): boolean {
    if (!this.isOpen) return false;
    this.sent.push(frame as Record<string, unknown>);
    return true;
  }
  receive(receiver: FrameReceiver | undefined): void {
    this.receiver = receiver;
    while (this.receiver && this.waiting.length > 0) this.receiver(this.waiting.shift());
  }
  /** The server sends frames (arriving in one chunk). */
  deliver(...frames: unknown[]): void {
    this.waiting.push(...frames);
    this.receive(this.receiver);
  }
  end(): void {
    this.destroy();
  }
  destroy(): void {
    this.isOpen = false;
    this.close(undefined);
  }
  types(): string[] {
    return this.sent.map((f) => (f.type === 'join' || f.type === 'leave' ? `${f.type} ${String(f.room)}` : String(f.type)));
  }
}

function session(received: ReceivedMessage[] = [], refused: Error[] = []): MessagingSession {
  return new MessagingSession({ autoAck: true, timeoutMs: 60_000, onMessage: (m) => received.push(m), onRefused: (e) => refused.push(e) });
}

/** The seq of the last ping a transport carried (deepEqual's assertion narrows `sent` itself). */
const lastPing = (t: FakeTransport): number => t.sent.filter((f) => f.type === 'ping').at(-1)!.seq as number;

const tick = () => new Promise((r) => setImmediate(r));

/** Plays a server that welcomes the session's login on `t`, then hands `t` to the session. */
async function adopt(s: MessagingSession, t: FakeTransport): Promise<void> {
  const resuming = s.resume(t, 60_000);
  await tick();
  t.deliver({ type: 'welcome', user: s.login!.user, server: t.peer });
  s.attach(t, await resuming);
  t.receive((m) => s.onFrame(t, m));
}

test('messaging session - resume sends the login, then one join per room; a refusal is a LoginError with the server\'s code', async () => {
  const s = session();
  s.login = { user: 'u1', token: () => 'tok' };
  const a = new FakeTransport('a');
  const resuming = s.resume(a, 60_000);
  await tick();
  a.deliver({ type: 'welcome', user: 'u1', server: 'srv-a' });
  assert.deepEqual(await resuming, { server: 'srv-a', rooms: new Set() });
  assert.deepEqual(a.sent, [{ type: 'login', user: 'u1', token: 'tok' }]);

  s.attach(a, await resuming);
  a.receive((m) => s.onFrame(a, m));
  const joined = s.join('r1');
  a.deliver({ type: 'pong', seq: lastPing(a), id: 'srv-a' });
  await joined;

  const b = new FakeTransport('b');
  const again = s.resume(b, 60_000);
  await tick();
  b.deliver({ type: 'welcome', user: 'u1', server: 'srv-b' });
  await again;
  assert.deepEqual(b.types(), ['login', 'join r1']);

  const c = new FakeTransport('c');
  const refused = s.resume(c, 60_000);
  await tick();
  c.deliver({ type: 'error', code: 'FULCRUM_TOKEN_EXPIRED', message: 'expired' });
  await assert.rejects(refused, (e: unknown) => e instanceof LoginError && e.code === 'FULCRUM_TOKEN_EXPIRED');
});

test('messaging session - frames right behind the welcome wait for the receiver of the adopted connection', async () => {
  const received: ReceivedMessage[] = [];
  const s = session(received);
  s.login = { user: 'u2' };
  const a = new FakeTransport('a');
  const resuming = s.resume(a, 60_000);
  await tick();
  a.deliver({ type: 'welcome', user: 'u2', server: 'x' }, { type: 'message', id: 7, body: 'early' }); // one chunk
  a.deliver({ type: 'message', id: 8, body: 'later' });
  const resumed = await resuming;
  assert.equal(received.length, 0, 'nothing handled before the connection is adopted');
  s.attach(a, resumed);
  a.receive((m) => s.onFrame(a, m));
  assert.deepEqual(received.map((m) => m.body), ['early', 'later']);
  assert.deepEqual(a.sent.filter((f) => f.type === 'ack').map((f) => f.id), [7, 8]);
});

test('messaging session - on a switch of connection, rooms changed since resume are caught up and waiting joins are confirmed on the new one', async () => {
  const s = session();
  s.login = { user: 'u3' };
  const a = new FakeTransport('a');
  await adopt(s, a);
  const first = s.join('one'); // sent on a, not yet confirmed

  const b = new FakeTransport('b');
  const rb = s.resume(b, 60_000);
  await tick();
  b.deliver({ type: 'welcome', user: 'u3', server: 'b' });
  const resumed = await rb;
  const second = s.join('two'); // after b's resume, before the switch: sent on a
  void s.leave('one').catch(() => {});
  s.attach(b, resumed);
  b.receive((m) => s.onFrame(b, m));
  assert.deepEqual(b.types(), ['login', 'join one', 'join two', 'leave one', 'ping', 'ping', 'ping']);
  for (const f of b.sent.filter((x) => x.type === 'ping')) b.deliver({ type: 'pong', seq: f.seq, id: 'b' });
  await Promise.all([first, second]);
  assert.deepEqual([...s.joined], ['two']);
});

test('messaging session - an error frame answers the oldest waiting join; requests waiting on a closed connection fail with DisconnectedError carrying the refusal', async () => {
  const refused: Error[] = [];
  const s = session([], refused);
  s.login = { user: 'u4' };
  const a = new FakeTransport('a');
  await adopt(s, a);
  const j1 = s.join('first');
  const j2 = s.join('second');
  a.deliver({ type: 'error', code: 'FULCRUM_TOO_MANY_ROOMS', message: 'no more rooms' });
  await assert.rejects(j1, (e: unknown) => e instanceof RequestRefusedError && e.code === 'FULCRUM_TOO_MANY_ROOMS' && e.op === 'join first');
  assert.deepEqual([...s.joined], ['second'], 'a refused join is not kept');
  const sent = s.send('v', 'hello');
  a.destroy();
  s.detach(a, undefined);
  await assert.rejects(j2, (e: unknown) => e instanceof DisconnectedError && e.code === 'FULCRUM_DISCONNECTED' && e.op === 'join second');
  await assert.rejects(sent, (e: unknown) => e instanceof DisconnectedError && e.op === 'send to v');
  await assert.rejects(s.join('later'), (e: unknown) => e instanceof DisconnectedError, 'no connection: fails at once');
  assert.deepEqual(refused, []);
});

test('messaging session - history: positions per stream, duplicates dropped by offset (user-stream ones still acked), rooms and broadcasts never acked', async () => {
  const received: ReceivedMessage[] = [];
  const s = session(received);
  s.login = { user: 'h1' };
  const a = new FakeTransport('a');
  await adopt(s, a);
  const joined = s.join('r');
  a.deliver({ type: 'joined', room: 'r', epoch: 'E-r', offset: 4 }, { type: 'pong', seq: lastPing(a), id: 'a' });
  await joined;
  assert.deepEqual(s.position('r'), { epoch: 'E-r', offset: 4 }, 'joined without since: the room starts after its top');
  a.sent.length = 0;
  a.deliver(
    { type: 'message', id: 'p1', body: 1, offset: 1, epoch: 'E-u' },
    { type: 'message', id: 'p2', body: 2, offset: 2, epoch: 'E-u' },
    { type: 'message', id: 'p1', body: 1, offset: 1, epoch: 'E-u' }, // again (a replay on another connection would look the same)
    { type: 'message', id: 'r5', body: 'r5', room: 'r', offset: 5, epoch: 'E-r' },
    { type: 'message', id: 'r5', body: 'r5', room: 'r', offset: 5, epoch: 'E-r' },
    { type: 'message', id: 'b', body: 'all', broadcast: true },
  );
  assert.deepEqual(received.map((m) => m.body), [1, 2, 'r5', 'all']);
  assert.equal(s.duplicates, 2);
  assert.deepEqual(a.sent, [{ type: 'ack', id: 'p1' }, { type: 'ack', id: 'p2' }, { type: 'ack', id: 'p1' }], 'user-stream messages acked, the duplicate too; room and broadcast not');
  assert.deepEqual([s.position(), s.position('r')], [{ epoch: 'E-u', offset: 2 }, { epoch: 'E-r', offset: 5 }]);
});

test('messaging session - history: every re-login and re-join carries since; the welcome and joined answers report recovery', async () => {
  const recoveries: [string | undefined, boolean][] = [];
  const s = new MessagingSession({ autoAck: true, timeoutMs: 60_000, onMessage: () => {}, onRefused: () => {}, onRecovery: (r, ok) => recoveries.push([r.room, ok]) });
  s.login = { user: 'h2' };
  const a = new FakeTransport('a');
  const first = s.resume(a, 60_000);
  await tick();
  a.deliver({ type: 'welcome', user: 'h2', server: 'a', recovered: true, epoch: 'E', offset: 0 });
  s.attach(a, await first);
  a.receive((m) => s.onFrame(a, m));
  assert.deepEqual(a.sent[0], { type: 'login', user: 'h2' }, 'nothing received yet: no since');
  const joining = s.join('r');
  a.deliver({ type: 'joined', room: 'r', epoch: 'R', offset: 0 }, { type: 'pong', seq: lastPing(a), id: 'a' });
  await joining;
  a.deliver({ type: 'message', id: 1, body: 1, offset: 1, epoch: 'E' }, { type: 'message', id: 2, body: 2, room: 'r', offset: 1, epoch: 'R' });
  assert.deepEqual(recoveries, [], 'a first login recovers nothing');

  const b = new FakeTransport('b');
  const again = s.resume(b, 60_000);
  await tick();
  assert.deepEqual(b.sent, [{ type: 'login', user: 'h2', since: { epoch: 'E', offset: 1 } }]);
  b.deliver({ type: 'welcome', user: 'h2', server: 'b', recovered: true, epoch: 'E', offset: 3 });
  const resumed = await again;
  assert.deepEqual(b.sent[1], { type: 'join', room: 'r', since: { epoch: 'R', offset: 1 } });
  s.attach(b, resumed);
  b.receive((m) => s.onFrame(b, m));
  b.deliver({ type: 'joined', room: 'r', recovered: false, epoch: 'R2', offset: 2 });
  assert.deepEqual(recoveries, [[undefined, true], ['r', false]]);
  // A new epoch: its messages are taken from offset 1 on.
  b.deliver({ type: 'message', id: 3, body: 'new', room: 'r', offset: 1, epoch: 'R2' });
  assert.deepEqual(s.position('r'), { epoch: 'R2', offset: 1 });
  s.leave('r').catch(() => {});
  assert.equal(s.position('r'), undefined, 'a room left forgets its position');
});
