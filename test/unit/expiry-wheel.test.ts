import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryWheel } from '../../src/messaging/sessions/expiry-wheel.js';

test('expiry wheel - entries expire in the sweep of their second, a new deadline replaces the old, deleted ones never expire', () => {
  let now = 10_000;
  const expired: string[] = [];
  const wheel = new ExpiryWheel<{ name: string }>((x) => expired.push(x.name), () => now);
  const a = { name: 'a' };
  const b = { name: 'b' };
  const c = { name: 'c' };
  try {
    wheel.set(a, 11_000);
    wheel.set(b, 11_500);
    wheel.set(c, 11_000);
    wheel.set(b, 13_000); // refreshed
    wheel.delete(c); // closed
    assert.equal(wheel.count, 2);
    now = 10_999;
    wheel.sweep();
    assert.deepEqual(expired, [], 'nothing before its deadline');
    now = 11_000;
    wheel.sweep();
    assert.deepEqual(expired, ['a']);
    now = 12_999;
    wheel.sweep();
    assert.deepEqual(expired, ['a'], 'the refreshed deadline counts, not the first');
    now = 13_000;
    wheel.sweep();
    assert.deepEqual(expired, ['a', 'b']);
    assert.equal(wheel.count, 0);
  } finally {
    wheel.stop();
  }
});
