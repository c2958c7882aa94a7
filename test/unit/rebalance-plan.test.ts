import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  DEFAULT_REBALANCE_MIN_EXCESS,
  DEFAULT_REBALANCE_SETTLE_RATIO,
  DEFAULT_REBALANCE_TRIGGER_RATIO,
  isMovable,
  planRebalance,
  type PlanInput,
  type PlanServer,
} from '../../src/server/rebalance-plan.js';
import { resolveRebalancerOptions } from '../../src/server/rebalancer.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';

const thresholds = { triggerRatio: DEFAULT_REBALANCE_TRIGGER_RATIO, settleRatio: DEFAULT_REBALANCE_SETTLE_RATIO, minExcess: DEFAULT_REBALANCE_MIN_EXCESS };

function servers(balances: Record<string, number>): PlanServer[] {
  return Object.entries(balances).map(([name, balance]) => ({ name, balance }));
}

function plan(balances: Record<string, number>, self: string, over: Partial<PlanInput> = {}) {
  const live = balances[self] ?? 0;
  return planRebalance({ servers: servers(balances), self, live, inFlight: 0, eligible: live, allowance: 1_000, active: false, thresholds, ...over });
}

test('rebalance plan - after a scale-out each old server moves exactly its excess over the mean', () => {
  const snap = { a: 500, b: 500, c: 500, d: 500, e: 0 };
  const p = plan(snap, 'a');
  assert.equal(p.target, 400);
  assert.equal(p.move, 100);
  assert.equal(p.active, true);
  const total = ['a', 'b', 'c', 'd'].reduce((sum, s) => sum + plan(snap, s).move, 0);
  assert.equal(total, 400, 'together: the ideal number');
  assert.equal(plan(snap, 'e').move, 0, 'the new server moves nothing');
});

test('rebalance plan - clients are told to avoid every server at or above its share', () => {
  const p = plan({ a: 500, b: 420, c: 399, d: 300, e: 381 }, 'a');
  assert.equal(p.target, 400);
  assert.deepEqual(p.exclude.sort(), ['a', 'b']);
});

test('rebalance plan - hysteresis: a small excess does not start a round, but a running round finishes it', () => {
  // Mean 100: 105 is inside the 10 % trigger band.
  const idle = plan({ a: 105, b: 95 }, 'a');
  assert.equal(idle.move, 0);
  assert.equal(idle.active, false);
  const running = plan({ a: 105, b: 95 }, 'a', { active: true });
  assert.equal(running.move, 5);
  assert.equal(running.active, true);
  // At the mean a running round stops.
  const done = plan({ a: 100, b: 100 }, 'a', { active: true });
  assert.equal(done.move, 0);
  assert.equal(done.active, false);
});

test('rebalance plan - the absolute minimum excess keeps tiny clusters still', () => {
  // 7 vs 3: 40 % above the mean, but only 2 connections over it.
  const p = plan({ a: 7, b: 3 }, 'a');
  assert.equal(p.move, 0);
  assert.equal(p.active, false);
});

test('rebalance plan - the rate allowance, in-flight moves and eligible connections cap a round', () => {
  const snap = { a: 500, b: 500, c: 500, d: 500, e: 0 };
  const rate = plan(snap, 'a', { allowance: 10 });
  assert.equal(rate.move, 10);
  assert.match(rate.reason, /rate limit/);
  // 60 already asked: they count as gone from here and as not yet arrived anywhere.
  const inFlight = plan(snap, 'a', { inFlight: 60, active: true });
  assert.equal(inFlight.excess, 40);
  assert.equal(inFlight.move, 40);
  const young = plan(snap, 'a', { eligible: 7 });
  assert.equal(young.move, 7);
  assert.match(young.reason, /eligible/);
});

test('rebalance plan - never more than the room below the mean, split by excess between overloaded servers', () => {
  // e is capped at 50: only 50 places of room exist, shared 3:1 between a and b.
  const snap: PlanServer[] = [
    { name: 'a', balance: 700 },
    { name: 'b', balance: 500 },
    { name: 'c', balance: 400 },
    { name: 'd', balance: 400 },
    { name: 'e', balance: 0, maxConnections: 50 },
  ];
  const input = (self: string, live: number): PlanInput => ({ servers: snap, self, live, inFlight: 0, eligible: live, allowance: 1_000, active: false, thresholds });
  const a = planRebalance(input('a', 700));
  const b = planRebalance(input('b', 500));
  assert.equal(a.room, 50);
  assert.equal(a.move, 37);
  assert.equal(b.move, 12);
  assert.ok(a.move + b.move <= 50);
});

test('rebalance plan - servers acting on the same snapshot never move more than the deficit together', () => {
  const random = mulberry32(20261201);
  for (let round = 0; round < 500; round++) {
    const n = 2 + Math.floor(random() * 8);
    const snap: Record<string, number> = {};
    for (let i = 0; i < n; i++) snap[`s${i}`] = Math.floor(random() * 1_000);
    const total = Object.values(snap).reduce((a, b) => a + b, 0);
    const mean = total / n;
    const deficit = Object.values(snap).reduce((sum, b) => sum + Math.max(0, Math.floor(mean) - b), 0);
    const moved = Object.keys(snap).reduce((sum, s) => sum + plan(snap, s, { active: random() < 0.5 }).move, 0);
    assert.ok(moved <= deficit, `round ${round}: ${JSON.stringify(snap)} moved ${moved} > deficit ${deficit}`);
  }
});

test('rebalance plan - draining servers and a missing own node', () => {
  const snap: PlanServer[] = [
    { name: 'a', balance: 300 },
    { name: 'b', balance: 100 },
    { name: 'c', balance: 900, draining: true },
  ];
  const a = planRebalance({ servers: snap, self: 'a', live: 300, inFlight: 0, eligible: 300, allowance: 1_000, active: false, thresholds });
  assert.equal(a.target, 200, 'a draining server is not part of the share');
  assert.equal(a.move, 100);
  assert.equal(planRebalance({ servers: snap, self: 'c', live: 900, inFlight: 0, eligible: 900, allowance: 1_000, active: false, thresholds }).move, 0);
  assert.equal(planRebalance({ servers: snap, self: 'x', live: 900, inFlight: 0, eligible: 900, allowance: 1_000, active: false, thresholds }).move, 0);
  assert.equal(plan({ a: 900 }, 'a').move, 0, 'alone: nowhere to go');
});

test('rebalance plan - simulated rounds converge to even with the ideal number of moves and then stay still', () => {
  const balances: Record<string, number> = { a: 500, b: 500, c: 500, d: 500, e: 0 };
  const active: Record<string, boolean> = {};
  let moves = 0;
  let quietRounds = 0;
  for (let round = 0; round < 100 && quietRounds < 10; round++) {
    // Every server decides from the same snapshot, 10 moves per round at most.
    const snapshot = { ...balances };
    let movedThisRound = 0;
    for (const self of Object.keys(snapshot)) {
      const p = plan(snapshot, self, { allowance: 10, active: active[self] ?? false });
      active[self] = p.active;
      for (let k = 0; k < p.move; k++) {
        // The client picks the least-loaded server it is not told to avoid.
        const to = Object.keys(balances).filter((s) => !p.exclude.includes(s)).sort((x, y) => balances[x]! - balances[y]!)[0]!;
        balances[self]!--;
        balances[to]!++;
      }
      movedThisRound += p.move;
    }
    moves += movedThisRound;
    quietRounds = movedThisRound === 0 ? quietRounds + 1 : 0;
  }
  assert.deepEqual(Object.values(balances), [400, 400, 400, 400, 400]);
  assert.equal(moves, 400);
  assert.equal(quietRounds, 10, 'no further moves once even');
});

test('rebalance plan - young, freshly migrated and exempt connections are not movable', () => {
  const rules = { minConnectionAgeMs: 5_000, migratedCooldownMs: 300_000 };
  const now = 1_000_000;
  assert.equal(isMovable({ acceptedAt: now - 4_999, protocol: true, migratedIn: false }, now, rules), false);
  assert.equal(isMovable({ acceptedAt: now - 5_000, protocol: true, migratedIn: false }, now, rules), true);
  assert.equal(isMovable({ acceptedAt: now - 60_000, protocol: true, migratedIn: true }, now, rules), false, 'moved once: not again for the cooldown');
  assert.equal(isMovable({ acceptedAt: now - 300_000, protocol: true, migratedIn: true }, now, rules), true);
  assert.equal(isMovable({ acceptedAt: now - 60_000, protocol: false, migratedIn: false, exemptUntil: now + 1 }, now, rules), false);
});

test('rebalance options - defaults merged once, bad values rejected', () => {
  const o = resolveRebalancerOptions({ maxMovesPerSecond: 5 });
  assert.equal(o.maxMovesPerSecond, 5);
  assert.equal(o.triggerRatio, DEFAULT_REBALANCE_TRIGGER_RATIO);
  for (const bad of [{ intervalMs: 0 }, { maxMovesPerSecond: -1 }, { minExcess: Number.NaN }, { triggerRatio: 0.05, settleRatio: 0.1 }]) {
    assert.throws(() => resolveRebalancerOptions(bad), InvalidArgumentError, JSON.stringify(bad));
  }
});

test('rebalance plan - while a wave of arrivals is still landing nothing moves', () => {
  const snap = { a: 500, b: 300 };
  // 30 fresh arrivals on a server whose share is 400: above 10 % of it? No (40), so it moves.
  assert.equal(plan(snap, 'a', { recentArrivals: 30 }).move, 100);
  const waiting = plan(snap, 'a', { recentArrivals: 41 });
  assert.equal(waiting.move, 0);
  assert.match(waiting.reason, /arrivals/);
});
