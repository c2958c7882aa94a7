import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encodeFrame, isMigrate, isPing, isPong } from '../../src/protocol/frames.js';
import { ProtocolError } from '../../src/errors.js';
import { plainDecode } from '../helpers/plain-msgpack.js';

const MESSAGES: unknown[] = [
  { type: 'ping', seq: 1 },
  { type: 'pong', seq: 1, id: 'server-a' },
  { text: 'x'.repeat(1000), n: -5, f: 1.25, ok: true, list: [1, 2, 3], none: null },
  'just a string',
  12345,
];

function header(len: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(len, 0);
  return h;
}

function isProtocolError(e: unknown): boolean {
  return e instanceof ProtocolError && e.code === 'FULCRUM_PROTOCOL';
}

test('frames - round trip', () => {
  for (const m of MESSAGES) {
    const frame = encodeFrame(m);
    assert.equal(frame.readUInt32BE(0), frame.length - 4, 'big-endian body length prefix');
    assert.deepEqual(plainDecode(frame.subarray(4)), m, 'body is plain MessagePack');
    const dec = new FrameDecoder();
    assert.deepEqual(dec.push(frame), [m]);
    assert.equal(dec.pendingBytes, 0);
  }
});

test('frames - reassembles frames fed one byte at a time', () => {
  const all = Buffer.concat(MESSAGES.map((m) => encodeFrame(m)));
  const dec = new FrameDecoder();
  const out: unknown[] = [];
  for (let i = 0; i < all.length; i++) out.push(...dec.push(all.subarray(i, i + 1)));
  assert.deepEqual(out, MESSAGES);
  assert.equal(dec.pendingBytes, 0);
});

test('frames - several frames in one chunk, split at every offset', () => {
  const all = Buffer.concat(MESSAGES.map((m) => encodeFrame(m)));
  assert.deepEqual(new FrameDecoder().push(all), MESSAGES);
  for (let cut = 0; cut <= all.length; cut += 7) {
    const dec = new FrameDecoder();
    const out = [...dec.push(all.subarray(0, cut)), ...dec.push(all.subarray(cut))];
    assert.deepEqual(out, MESSAGES, `cut at ${cut}`);
  }
  // Two whole frames plus half of a third: two now, the third later.
  const a = encodeFrame({ a: 1 });
  const b = encodeFrame({ b: 2 });
  const c = encodeFrame({ c: 3 });
  const dec = new FrameDecoder();
  assert.deepEqual(dec.push(Buffer.concat([a, b, c.subarray(0, 5)])), [{ a: 1 }, { b: 2 }]);
  assert.equal(dec.pendingBytes, 5);
  assert.deepEqual(dec.push(c.subarray(5)), [{ c: 3 }]);
  assert.equal(dec.pendingBytes, 0);
});

test('frames - oversize length prefix fails on the header alone', () => {
  const dec = new FrameDecoder(16);
  // Only the 4 header bytes: the decoder must not wait for (or buffer) the announced body.
  assert.throws(() => dec.push(header(17)), isProtocolError);
  assert.ok(dec.pendingBytes <= 4, `buffered ${dec.pendingBytes} bytes`);
  const big = new FrameDecoder();
  assert.throws(() => big.push(header(DEFAULT_MAX_FRAME_BYTES + 1)), isProtocolError);
  assert.throws(() => new FrameDecoder().push(header(0xffffffff)), isProtocolError);
  // Exactly at the limit is fine.
  const body = encodeFrame('y'.repeat(10)).subarray(4);
  const exact = new FrameDecoder(body.length);
  assert.deepEqual(exact.push(Buffer.concat([header(body.length), body])), ['y'.repeat(10)]);
  // An encoded frame larger than the limit is refused by a decoder with that limit.
  assert.throws(() => new FrameDecoder(64).push(encodeFrame('z'.repeat(100))), isProtocolError);
});

test('frames - undecodable body is a ProtocolError', () => {
  const bodies: [string, number[]][] = [
    ['truncated array', [0x92, 0x01]],
    ['truncated str', [0xa5, 0x61]],
    ['two values in one frame', [0x01, 0x02]],
  ];
  for (const [label, body] of bodies) {
    assert.throws(() => new FrameDecoder().push(Buffer.concat([header(body.length), Buffer.from(body)])), isProtocolError, label);
  }
});

test('frames - never-used byte 0xc1 as a body is a ProtocolError', () => {
  assert.throws(() => new FrameDecoder().push(Buffer.concat([header(1), Buffer.from([0xc1])])), isProtocolError);
});

test('frames - empty frame is a ProtocolError', () => {
  assert.throws(() => new FrameDecoder().push(header(0)), isProtocolError);
  const dec = new FrameDecoder();
  assert.throws(() => dec.push(Buffer.concat([encodeFrame(1), header(0), encodeFrame(2)])), isProtocolError);
});

test('frames - isPing checks the shape', () => {
  assert.equal(isPing({ type: 'ping', seq: 1 }), true);
  assert.equal(isPing({ type: 'ping', seq: 0, extra: 'ok' }), true);
  for (const m of [
    null,
    undefined,
    'ping',
    1,
    [],
    ['ping', 1],
    {},
    { type: 'ping' },
    { type: 'ping', seq: 1.5 },
    { type: 'ping', seq: '1' },
    { type: 'ping', seq: Number.NaN },
    { type: 'PING', seq: 1 },
    { type: 'pong', seq: 1, id: 'a' },
  ]) {
    assert.equal(isPing(m), false, JSON.stringify(m) ?? String(m));
  }
});

test('frames - isPong checks the shape', () => {
  assert.equal(isPong({ type: 'pong', seq: 1, id: 'server-a' }), true);
  for (const m of [
    null,
    undefined,
    'pong',
    {},
    { type: 'pong', seq: 1 },
    { type: 'pong', seq: 1, id: 7 },
    { type: 'ping', seq: 1, id: 'a' },
  ]) {
    assert.equal(isPong(m), false, JSON.stringify(m) ?? String(m));
  }
});

test('frames - isPong requires an integer seq', () => {
  assert.equal(isPong({ type: 'pong', id: 'a' }), false);
  assert.equal(isPong({ type: 'pong', seq: 'x', id: 'a' }), false);
});

test('frames - decoded pings pass isPing', () => {
  const [m] = new FrameDecoder().push(encodeFrame({ type: 'ping', seq: 42 }));
  assert.equal(isPing(m), true);
  const [p] = new FrameDecoder().push(encodeFrame({ type: 'pong', seq: 42, id: 's' }));
  assert.equal(isPong(p), true);
});

test('frames - migrate frames are recognised only with a reason and a list of names to avoid', () => {
  assert.equal(isMigrate({ type: 'migrate', reason: 'rebalance' }), true);
  assert.equal(isMigrate({ type: 'migrate', reason: 'rebalance', exclude: ['127.0.0.1:7001'] }), true);
  for (const bad of [{ type: 'migrate' }, { type: 'migrate', reason: 3 }, { type: 'migrate', reason: 'x', exclude: 'a' }, { type: 'migrate', reason: 'x', exclude: [1] }, { type: 'ping', seq: 1 }, null, 'migrate']) {
    assert.equal(isMigrate(bad), false, JSON.stringify(bad));
  }
  const [decoded] = new FrameDecoder().push(encodeFrame({ type: 'migrate', reason: 'rebalance', exclude: ['a:1'] }));
  assert.equal(isMigrate(decoded), true);
  assert.equal(isPing({ type: 'ping', seq: 2, migrated: true }), true, 'a migrated client still pings');
});
