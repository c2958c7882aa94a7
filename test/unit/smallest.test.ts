import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallest } from '../../src/messaging/smallest.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';

const byNumber = (a: number, b: number) => a - b;

test('smallest - equals sort-then-slice for random inputs, every k, with duplicates', () => {
  const random = mulberry32(42);
  for (let round = 0; round < 200; round++) {
    const n = Math.floor(random() * 60);
    const xs = Array.from({ length: n }, () => Math.floor(random() * 20));
    for (const k of [0, 1, 2, 5, n - 1, n, n + 3]) {
      const got = smallest(xs, k, byNumber);
      assert.equal(got.total, n);
      assert.deepEqual(got.items, [...xs].sort(byNumber).slice(0, Math.max(0, k)), `n ${n} k ${k}: ${JSON.stringify(xs)}`);
    }
  }
});

test('smallest - ascending and descending inputs, strings, and an iterator consumed once', () => {
  const up = Array.from({ length: 1000 }, (_, i) => i);
  assert.deepEqual(smallest(up, 3, byNumber).items, [0, 1, 2]);
  assert.deepEqual(smallest([...up].reverse(), 3, byNumber).items, [0, 1, 2]);
  const names = ['user-10', 'user-2', 'user-1', 'admin', 'zed'];
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  assert.deepEqual(smallest(names, 3, cmp), { total: 5, items: ['admin', 'user-1', 'user-10'] });
  let pulled = 0;
  function* gen() {
    for (const x of [5, 3, 9]) {
      pulled++;
      yield x;
    }
  }
  assert.deepEqual(smallest(gen(), 2, byNumber), { total: 3, items: [3, 5] });
  assert.equal(pulled, 3);
});
