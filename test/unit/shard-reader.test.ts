import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { RouteIndex } from '../../src/messaging/routes/route-index.js';
import { decodeShard, encodeShard } from '../../src/messaging/routes/shard-codec.js';
import { encodeName, entryKey, entryName, parseShard, readEntry, type ShardEntry } from '../../src/messaging/routes/shard-reader.js';
import { cjkNames } from '../helpers/cjk-names.js';

/** What parseShard reads, in the shape decodeShard gives. */
function readAll(buf: Buffer): { server: string; users: Map<string, [number, number]> } | undefined {
  const p = parseShard(buf);
  if (!p) return undefined;
  const e: ShardEntry = { keyStart: 0, keyEnd: 0, since: 0, seq: 0 };
  const users = new Map<string, [number, number]>();
  for (const at of p.entries) {
    readEntry(buf, at, e);
    users.set(entryName(buf, at, e), [e.since, e.seq]);
  }
  return { server: p.server, users };
}

function sameAsDecoder(buf: Buffer, what: string): void {
  const want = decodeShard(buf);
  const got = readAll(buf);
  if (!want) return assert.equal(got, undefined, `${what}: not a shard`);
  assert.ok(got, `${what}: a shard`);
  assert.equal(got.server, want.server, what);
  assert.deepEqual([...got.users].sort(), [...want.users].map(([u, e]) => [u, [e[0], e[1]]]).sort(), what);
}

// Plain MessagePack for hand-built shards (msgpackr writes its own choice of headers).
const u8 = (...b: number[]) => Buffer.from(b);
const str8 = (s: string) => Buffer.concat([u8(0xd9, Buffer.byteLength(s)), Buffer.from(s)]);
const str16 = (s: string) => Buffer.concat([u8(0xda, 0, Buffer.byteLength(s)), Buffer.from(s)]);
const fix = (s: string) => Buffer.concat([u8(0xa0 | Buffer.byteLength(s)), Buffer.from(s)]);
const map16 = (n: number) => u8(0xde, n >> 8, n & 0xff);
const f64 = (v: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(v, 1);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(9);
  b[0] = 0xcf;
  b.writeBigUInt64BE(v, 1);
  return b;
};

test('shard reader - reads what the codec writes, names of every kind included', () => {
  const names = ['alice', '__proto__', 'ünïcödé', '😀 smile', 'x'.repeat(128), 'é'.repeat(64), '\ud800 lone', `${'y'.repeat(70)}\udc00`, ...cjkNames(50)];
  const users = new Map<string, readonly [number, number]>(names.map((n, i) => [n, [1_700_000_000_000 + i, i * 70_001]]));
  const buf = encodeShard({ server: '127.0.0.1:7001', users });
  sameAsDecoder(buf, 'codec');
  assert.equal(parseShard(buf)!.entries.length, names.length);
  // A shard of 8,192 users (map32 header... or map16, as msgpackr chooses).
  const big = new Map<string, readonly [number, number]>(Array.from({ length: 8_192 }, (_, i) => [`user-${i}`, [Date.now() + i, i]] as const));
  sameAsDecoder(encodeShard({ server: 's', users: big }), '8192 users');
  sameAsDecoder(encodeShard({ server: 's', users: new Map() }), 'empty');
});

test('shard reader - accepts and skips exactly what the decoder accepts and skips', () => {
  const entries = (n: number, ...parts: Buffer[]) => Buffer.concat([map16(n), ...parts]);
  const shard = (users: Buffer, ...extra: Buffer[]) => Buffer.concat([u8(0x80 | (2 + extra.length / 2)), ...extra, fix('users'), users, fix('server'), str8('srv')]);
  const cases: Record<string, Buffer> = {
    'str8 / str16 keys, uint64 and float64 numbers, negative fixint, extra array items': shard(
      entries(3, str8('a'), u8(0x92), u64(1_700_000_000_000n), u8(0x01), str16('b'), u8(0x93), f64(2.5), u8(0xff), fix('junk'), fix('c'), u8(0x92, 0xd0, 0x80, 0xcd, 0x12, 0x34)),
    ),
    'entries the decoder drops: not an array, one number, a string inside, a non-string key': shard(
      entries(5, fix('a'), u8(0x05), fix('b'), u8(0x91, 0x01), fix('c'), u8(0x92, 0x01), fix('x'), u8(0x01), u8(0x92, 0x01, 0x02), fix('ok'), u8(0x92, 0x03, 0x04)),
    ),
    'unknown top-level keys with nested values, a non-string key among them': shard(entries(1, fix('a'), u8(0x92, 0x01, 0x02)), fix('meta'), u8(0x82, 0xa1, 0x6b, 0x93, 0xc0, 0xc3, 0xc4, 0x01, 0xff, 0x01, 0x91, 0xd7, 0x00, 1, 2, 3, 4, 5, 6, 7, 8), u8(0x07), u8(0xc0)),
    'a user twice: the later one wins': shard(entries(2, fix('a'), u8(0x92, 0x01, 0x02), fix('a'), u8(0x92, 0x03, 0x04))),
    'users twice: the later map wins': Buffer.concat([u8(0x83), fix('users'), entries(1, fix('a'), u8(0x92, 1, 2)), fix('server'), fix('s'), fix('users'), entries(1, fix('b'), u8(0x92, 3, 4))]),
    'server not a string': Buffer.concat([u8(0x82), fix('server'), u8(0x05), fix('users'), u8(0x80)]),
    'users not a map': Buffer.concat([u8(0x82), fix('server'), fix('s'), fix('users'), u8(0x90)]),
    'no users': Buffer.concat([u8(0x81), fix('server'), fix('s')]),
    'not a map': u8(0x92, 0x01, 0x02),
    'garbage': Buffer.from('garbage'),
    'a count of users beyond the bytes': Buffer.concat([u8(0x82), fix('server'), fix('s'), fix('users'), u8(0xdf, 0x7f, 0xff, 0xff, 0xff)]),
    'byte 0xc1': Buffer.concat([u8(0x83), fix('server'), fix('s'), fix('x'), u8(0xc1), fix('users'), u8(0x80)]),
  };
  for (const [what, buf] of Object.entries(cases)) sameAsDecoder(buf, what);
  // Every truncation of a real shard, and a trailing byte.
  const real = encodeShard({ server: 'srv', users: new Map([['alice', [1_700_000_000_000, 1]], ['bob', [1_700_000_000_001, 300]]]) });
  for (let n = 0; n < real.length; n++) sameAsDecoder(real.subarray(0, n), `first ${n} bytes`);
  sameAsDecoder(Buffer.concat([real, u8(0xc0)]), 'a trailing byte');
  // BigInt numbers as msgpackr packs them (int64 / uint64).
  const packr = new Packr({ useRecords: false });
  sameAsDecoder(packr.pack(new Map<string, unknown>([['server', 's'], ['users', new Map([['a', [-(2n ** 40n), 2n ** 40n]]])]])), 'int64 and uint64');
});

test('shard reader - entry keys, and names encoded the way msgpackr writes them', () => {
  const buf = encodeShard({ server: 's', users: new Map([['alice', [1, 2]]]) });
  const at = parseShard(buf)!.entries[0]!;
  const e = entryKey(buf, at, { keyStart: 0, keyEnd: 0, since: 0, seq: 0 });
  assert.equal(buf.toString('utf8', e.keyStart, e.keyEnd), 'alice');
  const packr = new Packr({ useRecords: false });
  let scratch: Buffer = Buffer.alloc(1);
  for (const name of ['a', 'ünï', '😀', '\ud800x', `${'z'.repeat(63)}\ud800`, `${'z'.repeat(64)}\ud800`, '用户'.repeat(60)]) {
    const packed = packr.pack(name);
    const { buf: out, length } = encodeName(name, scratch);
    scratch = out;
    assert.deepEqual(out.subarray(0, length), packed.subarray(packed.length - length), JSON.stringify(name));
  }
});

test('route index - slots by hash survive growth, removal and shrinking; several per hash', () => {
  const index = new RouteIndex();
  const hashOf = (i: number) => Math.imul(i, 0x9e3779b1) >>> 0;
  const N = 50_000;
  for (let i = 0; i < N; i++) index.insert(hashOf(i % 1_000), 1 + (i % 7), i);
  assert.equal(index.size, N);
  const find = (hash: number) => {
    const out: number[] = [];
    for (let p = index.next(hash); p >= 0; p = index.next(hash, p)) out.push(index.offset(p));
    return out.sort((a, b) => a - b);
  };
  assert.deepEqual(find(hashOf(3)), Array.from({ length: N / 1_000 }, (_, k) => 3 + 1_000 * k));
  // Remove all but those of hash 3, one at a time.
  for (let h = 0; h < 1_000; h++) {
    if (h === 3) continue;
    for (let p = index.next(hashOf(h)); p >= 0; p = index.next(hashOf(h))) index.remove(p);
  }
  assert.equal(index.size, N / 1_000);
  assert.ok(index.bytes < 12 * 1_024, `shrunk to ${index.bytes} bytes`);
  assert.deepEqual(find(hashOf(3)), Array.from({ length: N / 1_000 }, (_, k) => 3 + 1_000 * k));
  assert.deepEqual(find(hashOf(4)), []);
});
