import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fits, maxUsers, routeLoad, shardWritesPerSec } from '../../bench/route-load-model.js';

test('route load model - a quiet shard writes once per change; a busy one coalesces changes into far fewer writes', () => {
  for (const rate of [0.1, 1, 5]) {
    const w = shardWritesPerSec(rate);
    assert.ok(w > rate * 0.85 && w <= rate * 1.05, `${rate} changes/s → ${w} writes/s`);
  }
  const busy = shardWritesPerSec(2_000);
  assert.ok(busy < 200, `2,000 changes/s → ${busy} writes/s`);
});

test('route load model - watched servers read every write, on-demand servers none; memory and gateway requests follow', () => {
  const watched = routeLoad(1_000_000, 'watched', 8_192, 3);
  const onDemand = routeLoad(1_000_000, 'on-demand', 8_192, 3);
  const none = routeLoad(1_000_000, 'on-demand', 8_192, 0);
  assert.equal(watched.servers, 10);
  assert.equal(watched.fullViews, 13);
  assert.ok(watched.readsPerSec >= 13 * watched.writesPerSec);
  assert.ok(Math.abs(onDemand.readsPerSec / watched.readsPerSec - 3 / 13) < 1e-9);
  assert.equal(none.readsPerSec, 0);
  assert.equal(watched.writesPerSec, none.writesPerSec, 'the writes do not depend on who reads');
  assert.ok(watched.serverBytes > 10 * onDemand.serverBytes, "a watched server holds the whole table, an on-demand one a bounded cache");
  assert.equal(watched.gatewayPerServer, 0);
  assert.ok(onDemand.gatewayPerServer > 0);
  // Longer sessions: fewer changes, more users per ensemble.
  assert.ok(fits(routeLoad(10_000_000, 'on-demand', 128, 0, { sessionSec: 8 * 3_600 })));
  assert.ok(maxUsers(8 * 3_600) > maxUsers(1_800));
});
