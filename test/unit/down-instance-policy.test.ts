import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_FAILURES_TO_QUARANTINE,
  DEFAULT_FAILURE_WINDOW_MS,
  DEFAULT_QUARANTINE_MS,
  DownInstancePolicy,
} from '../../src/client/down-instance-policy.js';
import { backoffDelay } from '../../src/backoff.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('down-instance-policy - defaults', () => {
  assert.equal(DEFAULT_QUARANTINE_MS, 10_000);
  assert.equal(DEFAULT_FAILURES_TO_QUARANTINE, 2);
  assert.equal(DEFAULT_FAILURE_WINDOW_MS, 30_000);
  const c = clock();
  const p = new DownInstancePolicy({ now: c.now });
  p.fail('s');
  p.fail('s');
  assert.equal(p.isQuarantined('s'), true);
  c.advance(DEFAULT_QUARANTINE_MS - 1);
  assert.equal(p.isQuarantined('s'), true);
  c.advance(1);
  assert.equal(p.isQuarantined('s'), false);
});

test('down-instance-policy - two failures quarantine for quarantineMs, then release', () => {
  const c = clock();
  const p = new DownInstancePolicy({ quarantineMs: 5_000, failures: 2, windowMs: 30_000, now: c.now });
  p.fail('a');
  assert.equal(p.isQuarantined('a'), false, 'one failure is not enough');
  c.advance(100);
  p.fail('a');
  assert.equal(p.isQuarantined('a'), true);
  assert.deepEqual(p.quarantined, ['a']);
  assert.equal(p.isQuarantined('b'), false, 'other servers are unaffected');
  c.advance(4_999);
  assert.equal(p.isQuarantined('a'), true);
  c.advance(1);
  assert.equal(p.isQuarantined('a'), false, 'released after quarantineMs');
  assert.deepEqual(p.quarantined, []);
  // Released with a clean slate: one new failure does not re-quarantine.
  p.fail('a');
  assert.equal(p.isQuarantined('a'), false);
  p.fail('a');
  assert.equal(p.isQuarantined('a'), true);
});

test('down-instance-policy - isQuarantined works detached (used as a filter callback)', () => {
  const c = clock();
  const p = new DownInstancePolicy({ now: c.now });
  p.fail('x');
  p.fail('x');
  const f = p.isQuarantined;
  assert.deepEqual(['x', 'y'].filter((n) => !f(n)), ['y']);
});

test('down-instance-policy - succeed() clears failures and quarantine', () => {
  const c = clock();
  const p = new DownInstancePolicy({ quarantineMs: 5_000, now: c.now });
  p.fail('a');
  p.succeed('a');
  p.fail('a');
  assert.equal(p.isQuarantined('a'), false, 'the failure before succeed() was forgotten');
  p.fail('a');
  assert.equal(p.isQuarantined('a'), true);
  p.succeed('a');
  assert.equal(p.isQuarantined('a'), false, 'succeed() lifts the quarantine');
  assert.deepEqual(p.quarantined, []);
});

test('down-instance-policy - failures outside the window are forgotten', () => {
  const c = clock();
  const p = new DownInstancePolicy({ quarantineMs: 5_000, failures: 2, windowMs: 1_000, now: c.now });
  p.fail('a');
  c.advance(1_000);
  p.fail('a');
  assert.equal(p.isQuarantined('a'), false, 'first failure is exactly windowMs old');
  c.advance(999);
  p.fail('a');
  assert.equal(p.isQuarantined('a'), true, 'two failures 999 ms apart');
});

test('down-instance-policy - a higher threshold needs that many failures in the window', () => {
  const c = clock();
  const p = new DownInstancePolicy({ failures: 3, windowMs: 1_000, quarantineMs: 100, now: c.now });
  p.fail('a');
  c.advance(600);
  p.fail('a');
  c.advance(600); // the first failure has now left the window
  p.fail('a');
  assert.equal(p.isQuarantined('a'), false);
  c.advance(100);
  p.fail('a');
  assert.equal(p.isQuarantined('a'), true);
  // failures below 1 are clamped to 1: every failure quarantines.
  const one = new DownInstancePolicy({ failures: 0, now: c.now });
  one.fail('z');
  assert.equal(one.isQuarantined('z'), true);
});

test('down-instance-policy - quarantined lists only currently quarantined names', () => {
  const c = clock();
  const p = new DownInstancePolicy({ quarantineMs: 1_000, now: c.now });
  for (const n of ['a', 'b']) {
    p.fail(n);
    p.fail(n);
  }
  c.advance(500);
  p.fail('c');
  p.fail('c');
  assert.deepEqual(p.quarantined.sort(), ['a', 'b', 'c']);
  c.advance(500);
  assert.deepEqual(p.quarantined, ['c']);
  c.advance(500);
  assert.deepEqual(p.quarantined, []);
});

test('backoff - delay lies within [base, min(max, base * 2^attempt)]', () => {
  for (const [base, max] of [
    [100, 5_000],
    [50, 50],
    [10, 1_000_000],
  ] as const) {
    for (let attempt = 0; attempt <= 40; attempt++) {
      const hi = Math.min(max, base * 2 ** attempt);
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const d = backoffDelay(attempt, base, max, () => r);
        assert.ok(d >= base && d <= hi, `attempt ${attempt} base ${base} max ${max} r ${r}: ${d} not in [${base}, ${hi}]`);
      }
      assert.equal(backoffDelay(attempt, base, max, () => 0), base);
    }
  }
  assert.equal(backoffDelay(3, 100, 5_000, () => 1), 800);
  assert.equal(backoffDelay(10, 100, 5_000, () => 1), 5_000);
});

test('backoff - never exceeds max when base <= max, with real randomness', () => {
  for (let i = 0; i < 10_000; i++) {
    const attempt = i % 64;
    const d = backoffDelay(attempt, 100, 3_000);
    assert.ok(Number.isFinite(d) && d >= 100 && d <= 3_000, `attempt ${attempt}: ${d}`);
  }
  // Huge attempt counts do not overflow into Infinity or NaN.
  assert.equal(backoffDelay(5_000, 100, 3_000, () => 1), 3_000);
});

test('backoff - never exceeds max when base > max', () => {
  assert.ok(backoffDelay(0, 200, 100, () => 0) <= 100);
  assert.ok(backoffDelay(5, 200, 100, () => 1) <= 100);
});
