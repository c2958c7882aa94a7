import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadFrameError, parseClientFrame } from '../../src/protocol/messages.js';
import { compareLogins, routesRootOf, serverOfShard, shardName } from '../../src/messaging/routes/route.js';
import { decodeShard, encodeShard } from '../../src/messaging/routes/shard-codec.js';
import { plainDecode } from '../helpers/plain-msgpack.js';

test('messages - valid client frames parse to exactly their fields', () => {
  assert.deepEqual(parseClientFrame({ type: 'login', user: 'ü'.repeat(64), extra: 1 }), { type: 'login', user: 'ü'.repeat(64) });
  assert.deepEqual(parseClientFrame({ type: 'login', user: 'a', token: 't' }), { type: 'login', user: 'a', token: 't' });
  assert.deepEqual(parseClientFrame({ type: 'ack', id: 'x' }), { type: 'ack', id: 'x' });
  assert.deepEqual(parseClientFrame({ type: 'ack', id: 7 }), { type: 'ack', id: 7 });
  assert.deepEqual(parseClientFrame({ type: 'send', id: 1, to: 'b', body: null }), { type: 'send', id: 1, to: 'b', body: null });
  assert.deepEqual(parseClientFrame({ type: 'join', room: 'r' }), { type: 'join', room: 'r' });
  assert.deepEqual(parseClientFrame({ type: 'leave', room: 'r' }), { type: 'leave', room: 'r' });
  assert.deepEqual(parseClientFrame({ type: 'ping', seq: 3 }), { type: 'ping', seq: 3 });
});

test('messages - bad client frames are refused with FULCRUM_BAD_FRAME', () => {
  const bad: unknown[] = [
    null,
    'login',
    [],
    {},
    { type: 'what' },
    { type: 'login' },
    { type: 'login', user: '' },
    { type: 'login', user: 'ü'.repeat(65) }, // 130 bytes
    { type: 'login', user: 'a', token: 5 },
    { type: 'ack' },
    { type: 'ack', id: 1.5 },
    { type: 'ack', id: '' },
    { type: 'send', id: 1, to: 'b' },
    { type: 'send', id: 1, body: 'x' },
    { type: 'join', room: 'x'.repeat(129) },
    { type: 'leave' },
    { type: 'ping', seq: 'a' },
  ];
  for (const f of bad) assert.throws(() => parseClientFrame(f), (e: unknown) => e instanceof BadFrameError && e.code === 'FULCRUM_BAD_FRAME', JSON.stringify(f));
});

test('messages - login order is total: since, then server, then seq', () => {
  const a = { since: 10, server: 's1', seq: 5 };
  assert.ok(compareLogins(a, { since: 11, server: 's0', seq: 0 }) < 0);
  assert.ok(compareLogins(a, { since: 10, server: 's2', seq: 0 }) < 0);
  assert.ok(compareLogins(a, { since: 10, server: 's1', seq: 6 }) < 0);
  assert.equal(compareLogins(a, { ...a }), 0);
  const many = [a, { since: 10, server: 's0', seq: 9 }, { since: 9, server: 's9', seq: 1 }, { since: 10, server: 's1', seq: 1 }];
  const sorted = [...many].sort(compareLogins).map((x) => `${x.since}/${x.server}/${x.seq}`);
  assert.deepEqual(sorted, ['9/s9/1', '10/s0/9', '10/s1/1', '10/s1/5']);
});

test('messages - route paths: routes beside the servers root; shard names round-trip', () => {
  assert.equal(routesRootOf('/fulcrum/servers'), '/fulcrum/routes');
  assert.equal(routesRootOf('/servers'), '/routes');
  assert.equal(serverOfShard(shardName('127.0.0.1:4000', 3)), '127.0.0.1:4000');
  assert.equal(serverOfShard('no-shard'), undefined);
  assert.equal(serverOfShard('x#y'), undefined);
});

test('messages - route shards are plain MessagePack maps, and odd user names stay plain keys', () => {
  const users = new Map<string, readonly [number, number]>([['alice', [1_700_000_000_000, 1]], ['__proto__', [5, 2]], ['constructor', [6, 3]]]);
  const buf = encodeShard({ server: 's', users });
  // An independent decoder: standard MessagePack, no msgpackr extensions.
  const plain = plainDecode(buf) as { server: string; users: Record<string, unknown> };
  assert.equal(plain.server, 's');
  assert.deepEqual(plain.users.alice, [1_700_000_000_000, 1]);
  assert.deepEqual(Object.keys(plain.users).sort(), ['__proto__', 'alice', 'constructor']);
  const back = decodeShard(buf)!;
  assert.deepEqual([...back.users], [...users]);
  assert.equal(decodeShard(Buffer.from('garbage')), undefined);
});
