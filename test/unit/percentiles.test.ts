import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, medianOfRounds, quantile, quantileSorted, ratio, summarize } from '../../bench/percentiles.js';

test('percentiles - nearest rank on 1..100', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // unsorted on purpose
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 0.999), 100);
  assert.equal(quantile(xs, 0), 1);
  assert.equal(quantile(xs, 1), 100);
});

test('percentiles - small and empty inputs', () => {
  assert.equal(quantile([7], 0.99), 7);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2, 'nearest rank takes the lower middle');
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.throws(() => quantileSorted([1, 2], 1.5), RangeError);
});

test('percentiles - summarize does not reorder its input and finds the tail', () => {
  const xs = [...Array.from({ length: 998 }, () => 1), 50, 1000];
  const copy = [...xs];
  const s = summarize(xs);
  assert.deepEqual(xs, copy);
  assert.deepEqual(s, { n: 1000, p50: 1, p99: 1, p999: 50, max: 1000 });
});

test('percentiles - median of rounds ignores one bad round', () => {
  const calm = { n: 100, p50: 1, p99: 2, p999: 3, max: 4 };
  const burst = { n: 100, p50: 9, p99: 90, p999: 300, max: 400 };
  const m = medianOfRounds([calm, burst, calm]);
  assert.deepEqual(m, { n: 300, p50: 1, p99: 2, p999: 3, max: 400 });
  assert.equal(ratio(1, 4), '0.25');
  assert.equal(ratio(1, 0), 'n/a');
});
