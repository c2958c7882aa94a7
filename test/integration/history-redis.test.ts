import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { userStream } from '../../src/messaging/history/history-engine.js';
import { RedisHistory, streamKeys } from '../../src/messaging/history/redis-history.js';
import { historyContract } from '../helpers/history-contract.js';
import { testRedis } from '../helpers/redis.js';

let url: string;
let raw: Redis;
const prefix = `t-${randomBytes(3).toString('hex')}`;
before(async () => {
  url = await testRedis();
  raw = new Redis(url);
});
after(() => raw.disconnect());

let n = 0;
historyContract(
  'history redis',
  async (limits) => {
    const engine = new RedisHistory({ ...limits, redis: url, keyPrefix: prefix });
    return {
      engine,
      lose: async (stream) => {
        const k = streamKeys(prefix, stream);
        await raw.del(k.stream, k.meta);
      },
      pass: (ms) => new Promise((r) => setTimeout(r, ms)),
      close: () => engine.close(),
    };
  },
  () => `r-${++n}`,
);

test('history redis - a stream is one Redis stream and one meta hash under one hash tag, both with a TTL, trimmed to its size', async () => {
  const engine = new RedisHistory({ redis: url, keyPrefix: prefix, users: { maxMessages: 5 } });
  try {
    const name = 'al{i}ce';
    for (let i = 0; i < 8; i++) await engine.append(userStream(name), { id: i, body: 'x'.repeat(10) });
    const k = streamKeys(prefix, userStream(name));
    assert.equal(k.stream, `${prefix}:{u:al%7Bi%7Dce}:s`, 'braces escaped: the hash tag is the whole name');
    assert.equal(k.meta, `${prefix}:{u:al%7Bi%7Dce}:m`);
    assert.equal(await raw.xlen(k.stream), 5);
    const meta = await raw.hgetall(k.meta);
    assert.deepEqual([meta.s, meta.a], ['8', '0']);
    assert.ok((await raw.pttl(k.stream)) > 86_000_000, 'stream TTL: the user ttl (24 h)');
    assert.ok((await raw.pttl(k.meta)) > 29 * 86_400_000, 'meta TTL: 30 days');
    const [first] = await raw.xrange(k.stream, '-', '+', 'COUNT', 1);
    assert.equal(first![0], '4-0', 'entry ids are the offsets');
  } finally {
    await engine.close();
  }
});

test('history redis - an unreachable Redis fails appends and reads with FULCRUM_HISTORY_UNAVAILABLE', async () => {
  const engine = new RedisHistory({ redis: 'redis://127.0.0.1:1', commandTimeoutMs: 500 });
  try {
    await assert.rejects(engine.append(userStream('u'), { id: 1, body: 1 }), (e: unknown) => (e as { code?: string }).code === 'FULCRUM_HISTORY_UNAVAILABLE');
    await assert.rejects(engine.read(userStream('u'), { from: 'start', limit: 1 }), (e: unknown) => (e as { code?: string }).code === 'FULCRUM_HISTORY_UNAVAILABLE');
  } finally {
    await engine.close();
  }
});

test('history redis - appends made while a call is out go together in the next one, in order', async () => {
  const engine = new RedisHistory({ redis: url, keyPrefix: prefix });
  try {
    await engine.start();
    const first = engine.append(userStream('gc'), { id: 0, body: 0 });
    // The engine's flush ran (its setImmediate came first); its answer needs an I/O turn, so these queue.
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 50 }, (_, i) => engine.append(userStream(i % 2 === 0 ? 'gc' : 'gc2'), { id: i + 1, body: i + 1 }));
    const [p0, ...ps] = await Promise.all([first, ...rest]);
    assert.deepEqual(engine.appendStats, { calls: 2, appends: 51 }, 'one call for the first, one for the 50 queued behind it');
    assert.deepEqual([p0!.offset, ...ps.filter((_, i) => i % 2 === 0).map((p) => p.offset)], Array.from({ length: 26 }, (_, i) => i + 1));
    assert.deepEqual(ps.filter((_, i) => i % 2 === 1).map((p) => p.offset), Array.from({ length: 25 }, (_, i) => i + 1));
  } finally {
    await engine.close();
  }
});
