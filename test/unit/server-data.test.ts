import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, pack } from 'msgpackr';
import { decodeServerData, encodeServerData, transportsOf, validateServerData, type ServerData } from '../../src/server-data.js';
import { MalformedServerDataError } from '../../src/errors.js';
import { plainDecode, PlainMsgpackError } from '../helpers/plain-msgpack.js';

function assertMalformed(buf: Buffer, label: string): void {
  assert.throws(
    () => decodeServerData(buf),
    (e: unknown) => {
      assert.ok(e instanceof MalformedServerDataError, `${label}: expected MalformedServerDataError, got ${String(e)}`);
      assert.equal(e.code, 'FULCRUM_MALFORMED_SERVER_DATA', label);
      assert.equal(e.name, 'MalformedServerDataError', label);
      return true;
    },
    label,
  );
}

const GOOD: ServerData = { ip: '10.0.0.17', port: 8002, balance: 3 };

test('plain-msgpack - decodes hand-written bytes of every supported type', () => {
  const b = (...xs: number[]) => Buffer.from(xs);
  assert.equal(plainDecode(b(0x05)), 5);
  assert.equal(plainDecode(b(0xff)), -1);
  assert.equal(plainDecode(b(0xe0)), -32);
  assert.equal(plainDecode(b(0xcc, 0xc8)), 200);
  assert.equal(plainDecode(b(0xcd, 0x23, 0x42)), 9026);
  assert.equal(plainDecode(b(0xce, 0x00, 0x01, 0x00, 0x00)), 65536);
  assert.equal(plainDecode(b(0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0)), 2 ** 40);
  assert.equal(plainDecode(b(0xd0, 0x80)), -128);
  assert.equal(plainDecode(b(0xd1, 0xff, 0x00)), -256);
  assert.equal(plainDecode(b(0xd2, 0xff, 0xff, 0xff, 0xfe)), -2);
  assert.equal(plainDecode(b(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd)), -3);
  assert.equal(plainDecode(b(0xca, 0x3f, 0xc0, 0x00, 0x00)), 1.5);
  assert.equal(plainDecode(b(0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)), 1.5);
  assert.equal(plainDecode(b(0xc0)), null);
  assert.equal(plainDecode(b(0xc2)), false);
  assert.equal(plainDecode(b(0xc3)), true);
  assert.equal(plainDecode(b(0xa2, 0x69, 0x70)), 'ip');
  assert.equal(plainDecode(b(0xd9, 0x02, 0x69, 0x70)), 'ip');
  assert.equal(plainDecode(b(0xda, 0x00, 0x02, 0x69, 0x70)), 'ip');
  assert.equal(plainDecode(b(0xdb, 0, 0, 0, 0x02, 0x69, 0x70)), 'ip');
  assert.deepEqual(plainDecode(b(0x92, 0x01, 0xc0)), [1, null]);
  assert.deepEqual(plainDecode(b(0xdc, 0x00, 0x01, 0x07)), [7]);
  assert.deepEqual(plainDecode(b(0xdd, 0, 0, 0, 0x01, 0x07)), [7]);
  assert.deepEqual(plainDecode(b(0x81, 0xa1, 0x61, 0x01)), { a: 1 });
  assert.deepEqual(plainDecode(b(0xde, 0x00, 0x01, 0xa1, 0x61, 0x01)), { a: 1 });
  assert.deepEqual(plainDecode(b(0xdf, 0, 0, 0, 0x01, 0xa1, 0x61, 0x01)), { a: 1 });
  assert.throws(() => plainDecode(b(0x92, 0x01)), PlainMsgpackError);
  assert.throws(() => plainDecode(b(0x01, 0x02)), PlainMsgpackError);
});

test('plain-msgpack - rejects msgpackr extensions (records, dates)', () => {
  for (const ext of [0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8]) {
    assert.throws(() => plainDecode(Buffer.from([ext, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /extension type/, `0x${ext.toString(16)}`);
  }
  // Records (msgpackr's default Packr) and Dates are extensions; the helper must notice them.
  assert.throws(() => plainDecode(new Packr({ useRecords: true }).pack({ ip: 'a', port: 1, balance: 0 })), /extension type/);
  assert.throws(() => plainDecode(pack({ at: new Date(0) })), /extension type/);
});

test('server-data - decodes with an independent msgpack reader', () => {
  assert.deepEqual(plainDecode(encodeServerData(GOOD)), { ip: '10.0.0.17', port: 8002, balance: 3 });
  const full: ServerData = {
    ip: '127.0.0.1',
    port: 65535,
    balance: 70_000,
    id: 's-1',
    startedAt: 1_722_000_000_123,
    updatedAt: 1_722_000_001_456,
    maxConnections: 500,
    draining: true,
    acceptRate: 1240,
    transports: ['tcp', 'ws'],
    tls: true,
    gatewayTls: true,
  };
  assert.deepEqual(plainDecode(encodeServerData(full)), { ...full });
  // Many encodes in a row (msgpackr reuses an arena) still give standalone plain maps.
  for (let i = 0; i < 200; i++) {
    const d: ServerData = { ip: `10.0.${i >> 8}.${i & 255}`, port: 1024 + i, balance: i * 1000 };
    assert.deepEqual(plainDecode(encodeServerData(d)), { ...d });
  }
});

test('server-data - round trip through decodeServerData', () => {
  assert.deepEqual(decodeServerData(encodeServerData(GOOD)), GOOD);
  const full: ServerData = { ip: '::1', port: 1, balance: 0, id: 'x', startedAt: 1, updatedAt: 2, maxConnections: 0, draining: true, acceptRate: 12.5 };
  assert.deepEqual(decodeServerData(encodeServerData(full)), full);
});

test('server-data - transports, tls and gatewayTls: decoded when well-formed, absent transports mean tcp, bad ones rejected', () => {
  const base = { ip: '127.0.0.1', port: 7001, balance: 0 };
  assert.deepEqual(decodeServerData(encodeServerData({ ...base, transports: ['tcp', 'ws'], tls: true, gatewayTls: true })), { ...base, transports: ['tcp', 'ws'], tls: true, gatewayTls: true });
  assert.deepEqual(transportsOf(decodeServerData(encodeServerData(base))), ['tcp']);
  assert.deepEqual(decodeServerData(pack({ ...base, tls: false, gatewayTls: null })), base);
  for (const transports of [[], 'ws', [1], [''], ['x'.repeat(17)], Array(9).fill('tcp')]) {
    assert.throws(() => validateServerData({ ...base, transports }), MalformedServerDataError, JSON.stringify(transports));
  }
  assert.throws(() => validateServerData({ ...base, tls: 'yes' }), /bad tls/);
  assert.throws(() => validateServerData({ ...base, gatewayTls: 1 }), /bad gatewayTls/);
});

test('server-data - rejects garbage bytes', () => {
  const garbage: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['truncated map', Buffer.from([0x83, 0xa2, 0x69])],
    ['text', Buffer.from('hello world')],
    ['json', Buffer.from(JSON.stringify(GOOD))],
    ['never-used byte 0xc1', Buffer.from([0xc1])],
    ['trailing bytes', Buffer.concat([encodeServerData(GOOD), Buffer.from([0x01])])],
  ];
  for (const [label, buf] of garbage) assertMalformed(buf, label);
});

test('server-data - rejects non-map values', () => {
  for (const v of [null, 42, 'ip', true, [GOOD], ['10.0.0.1', 9000, 0]]) assertMalformed(pack(v), JSON.stringify(v));
  assert.throws(() => validateServerData(undefined), MalformedServerDataError);
});

test('server-data - rejects missing and wrong-typed fields', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['no ip', { port: 9000, balance: 0 }],
    ['no port', { ip: '10.0.0.1', balance: 0 }],
    ['no balance', { ip: '10.0.0.1', port: 9000 }],
    ['ip number', { ip: 10, port: 9000, balance: 0 }],
    ['ip null', { ip: null, port: 9000, balance: 0 }],
    ['port string', { ip: '10.0.0.1', port: '9000', balance: 0 }],
    ['port float', { ip: '10.0.0.1', port: 9000.5, balance: 0 }],
    ['balance string', { ip: '10.0.0.1', port: 9000, balance: '1' }],
    ['balance null', { ip: '10.0.0.1', port: 9000, balance: null }],
    ['balance bool', { ip: '10.0.0.1', port: 9000, balance: true }],
    ['maxConnections negative', { ip: '10.0.0.1', port: 9000, balance: 0, maxConnections: -1 }],
    ['maxConnections string', { ip: '10.0.0.1', port: 9000, balance: 0, maxConnections: '5' }],
    ['draining string', { ip: '10.0.0.1', port: 9000, balance: 0, draining: 'yes' }],
    ['acceptRate negative', { ip: '10.0.0.1', port: 9000, balance: 0, acceptRate: -5 }],
    ['acceptRate string', { ip: '10.0.0.1', port: 9000, balance: 0, acceptRate: '100' }],
    ['acceptRate NaN', { ip: '10.0.0.1', port: 9000, balance: 0, acceptRate: Number.NaN }],
    ['acceptRate infinite', { ip: '10.0.0.1', port: 9000, balance: 0, acceptRate: Number.POSITIVE_INFINITY }],
  ];
  for (const [label, v] of bad) assertMalformed(pack(v), label);
});

test('server-data - rejects negative or non-integer balance', () => {
  for (const balance of [-1, -1000, 1.5, 0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assertMalformed(pack({ ip: '10.0.0.1', port: 9000, balance }), `balance ${balance}`);
  }
});

test('server-data - rejects port 0 and out-of-range ports', () => {
  for (const port of [0, -1, 65536, 70000]) assertMalformed(pack({ ip: '10.0.0.1', port, balance: 0 }), `port ${port}`);
  assert.equal(decodeServerData(pack({ ip: '10.0.0.1', port: 65535, balance: 0 })).port, 65535);
  assert.equal(decodeServerData(pack({ ip: '10.0.0.1', port: 1, balance: 0 })).port, 1);
});

test('server-data - rejects wildcard ips', () => {
  for (const ip of ['0.0.0.0', '::', '[::]', '']) assertMalformed(pack({ ip, port: 9000, balance: 0 }), `ip ${JSON.stringify(ip)}`);
});

test('server-data - tolerates unknown extra fields', () => {
  const v = { ip: '10.0.0.1', port: 9000, balance: 7, zone: 'eu-1', weight: 2.5, tags: ['a'], nested: { x: 1 }, futureFlag: null };
  assert.deepEqual(decodeServerData(pack(v)), { ip: '10.0.0.1', port: 9000, balance: 7 });
  // A foreign writer's explicit nil for an optional field is fine too.
  assert.deepEqual(decodeServerData(pack({ ip: '10.0.0.1', port: 9000, balance: 7, maxConnections: null })), { ip: '10.0.0.1', port: 9000, balance: 7 });
});

test('server-data - decodes a uint64 balance as a number', () => {
  // 0xcf: a writer in another language may use uint64 for any non-negative integer.
  const buf = Buffer.concat([
    Buffer.from([0x83, 0xa2, 0x69, 0x70, 0xa8]),
    Buffer.from('10.0.0.1'),
    Buffer.from([0xa4]),
    Buffer.from('port'),
    Buffer.from([0xcf, 0, 0, 0, 0, 0, 0, 0x23, 0x28]),
    Buffer.from([0xa7]),
    Buffer.from('balance'),
    Buffer.from([0xcf, 0, 0, 0, 0, 0, 0, 0, 0x05]),
  ]);
  assert.deepEqual(plainDecode(buf), { ip: '10.0.0.1', port: 9000, balance: 5 });
  assert.deepEqual(decodeServerData(buf), { ip: '10.0.0.1', port: 9000, balance: 5 });
});
