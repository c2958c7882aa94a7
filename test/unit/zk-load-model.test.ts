import { test } from 'node:test';
import assert from 'node:assert/strict';
import { churnEvents, clusterLoad, ENSEMBLE_READS_PER_SEC, maxWatchers, runModel, simulateServer } from '../../bench/zk-load-model.js';

const churn = { arrivalsPerSec: 20, meanLifetimeSec: 30, durationSec: 60, seed: 3 };

test('zk load model - churn starts and stays near steady state', () => {
  const { initial, events } = churnEvents(churn);
  assert.equal(initial, 600);
  const arrivals = events.filter((e) => e.d === 1).length;
  assert.ok(arrivals > 1_000 && arrivals < 1_400, `${arrivals} arrivals in 60 s at 20/s`);
  let live = initial;
  for (const e of events) live += e.d;
  assert.ok(live > 450 && live < 750, `ends near 600, got ${live}`);
  assert.ok(events.every((e, i) => i === 0 || events[i - 1]!.t <= e.t), 'sorted by time');
});

test('zk load model - default publishing writes at most once per minimum gap, and exactly at the end', () => {
  const s = simulateServer(churn, { minIntervalMs: 20 });
  assert.ok(s.writes <= churn.durationSec * 50 + 1);
  assert.ok(s.writes > s.events / 3, 'at ~40 events/s nearly every event gets its own write');
  assert.equal(s.finalExact, true);
});

test('zk load model - the adaptive policy writes far less, never holds a change past its max delay, stays exact', () => {
  const off = simulateServer(churn, { minIntervalMs: 20 });
  const on = simulateServer(churn, { minIntervalMs: 20, policy: {} });
  assert.ok(on.writes * 5 < off.writes, `${on.writes} vs ${off.writes}`);
  assert.ok(on.maxStalenessMs <= 1_000 + 1e-6, `held a change ${on.maxStalenessMs} ms`);
  assert.equal(on.finalExact, true);
});

test('zk load model - a quiet server near zero is published at once (first connections)', () => {
  const quiet = simulateServer({ arrivalsPerSec: 0.2, meanLifetimeSec: 5, durationSec: 300, seed: 5 }, { minIntervalMs: 20, policy: {} });
  assert.equal(quiet.writes, quiet.events, 'every change of a balance below 8 is its own write');
  assert.ok(quiet.maxStalenessMs <= 20 + 1e-6);
});

test('zk load model - reads scale with watchers × writes; capacity bounds the watcher count', () => {
  const l = clusterLoad(100, 1_000, 2);
  assert.equal(l.writesPerSec, 200);
  assert.ok(Math.abs(l.readsPerSec - 1_000 * (200 + 101 / 30)) < 1e-6);
  const w = maxWatchers(100, 2);
  assert.ok(clusterLoad(100, w, 2).readsPerSec <= ENSEMBLE_READS_PER_SEC);
  assert.ok(clusterLoad(100, w + 1, 2).readsPerSec > ENSEMBLE_READS_PER_SEC);
  assert.equal(maxWatchers(1_000, 50), 0, 'writes alone exceed the ensemble');
});

test('zk load model - the full model is reproducible and favours the policy at every size', () => {
  const a = runModel({ sample: 6, durationSec: 30 });
  const b = runModel({ sample: 6, durationSec: 30 });
  assert.deepEqual(a, b);
  assert.equal(a.perServer.allExact, true);
  for (const r of a.maxWatchers) assert.ok(r.on >= r.off, `${r.servers} servers`);
});
