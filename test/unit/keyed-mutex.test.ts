import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { KeyedMutex, pathLocks } from '../../src/zk/keyed-mutex.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';


test('keyed-mutex - at most one holder per key under 1000 interleaved sections on 50 keys', async () => {
  const m = new KeyedMutex();
  const rnd = mulberry32(7);
  const holders = new Map<string, number>();
  const perKey = new Map<string, number>();
  let maxHolders = 0;
  let total = 0;
  let peakConcurrentKeys = 0;
  const sections = Array.from({ length: 1000 }, (_, i) => {
    const key = `/k/${Math.floor(rnd() * 50)}`;
    const yields = Math.floor(rnd() * 4);
    return m.runExclusive(key, async () => {
      const h = (holders.get(key) ?? 0) + 1;
      holders.set(key, h);
      maxHolders = Math.max(maxHolders, h);
      peakConcurrentKeys = Math.max(peakConcurrentKeys, [...holders.values()].filter((n) => n > 0).length);
      // Read-modify-write across awaits: lost updates would show if two sections overlapped.
      const before = perKey.get(key) ?? 0;
      for (let y = 0; y < yields; y++) await tick();
      perKey.set(key, before + 1);
      total++;
      holders.set(key, h - 1);
      return i;
    });
  });
  assert.ok(m.size > 0 && m.size <= 50, `size while running: ${m.size}`);
  const results = await Promise.all(sections);
  assert.deepEqual(results, Array.from({ length: 1000 }, (_, i) => i));
  assert.equal(maxHolders, 1);
  assert.equal(total, 1000);
  assert.equal([...perKey.values()].reduce((a, b) => a + b, 0), 1000);
  assert.ok(peakConcurrentKeys > 1, 'different keys ran concurrently');
  assert.equal(m.size, 0);
});

test('keyed-mutex - sections on one key run in call order', async () => {
  const m = new KeyedMutex();
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      m.runExclusive('k', async () => {
        await tick();
        order.push(i);
      }),
    ),
  );
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
  assert.equal(m.size, 0);
});

test('keyed-mutex - errors propagate and release the lock', async () => {
  const m = new KeyedMutex();
  const boom = new Error('boom');
  const failing = m.runExclusive('k', async () => {
    await tick();
    throw boom;
  });
  const syncFailing = m.runExclusive('k', () => {
    throw new TypeError('sync boom');
  });
  const after = m.runExclusive('k', () => 'ran');
  await assert.rejects(failing, (e) => e === boom);
  await assert.rejects(syncFailing, TypeError);
  assert.equal(await after, 'ran');
  assert.equal(m.size, 0);

  // Many failing sections interleaved with succeeding ones: no leak, no stuck key.
  const outcomes = await Promise.allSettled(
    Array.from({ length: 200 }, (_, i) =>
      m.runExclusive(`k${i % 10}`, async () => {
        await tick();
        if (i % 3 === 0) throw new Error(`fail ${i}`);
        return i;
      }),
    ),
  );
  assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 67);
  assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 133);
  assert.equal(m.size, 0);
});

test('keyed-mutex - synchronous return values and distinct keys do not block each other', async () => {
  const m = new KeyedMutex();
  let releaseA!: () => void;
  const a = m.runExclusive('a', () => new Promise<string>((r) => (releaseA = () => r('a'))));
  // 'b' completes while 'a' is still held.
  assert.equal(await m.runExclusive('b', () => 'b'), 'b');
  assert.equal(m.size, 1);
  releaseA();
  assert.equal(await a, 'a');
  assert.equal(m.size, 0);
});

test('keyed-mutex - the shared pathLocks instance is a KeyedMutex', () => {
  assert.ok(pathLocks instanceof KeyedMutex);
});
