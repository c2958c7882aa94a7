import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { DownInstancePolicy } from '../../src/client/down-instance-policy.js';
import { least } from '../../src/balancing/least.js';
import { RecentPicks } from '../../src/balancing/recent-picks.js';
import type { PickContext } from '../../src/balancing/strategy.js';
import { createWaterFillStrategy, DEFAULT_BLIND_WINDOW_MS, expectedArrivals, waterFill, waterLevel } from '../../src/balancing/water-fill.js';
import { DEFAULT_DEPARTED_MEMORY_MS, DepartedMemory, makeSnapshot, type ServerInfo, type Snapshot } from '../../src/discovery/snapshot.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { ACCEPT_RATE_WINDOW_MS } from '../../src/server-data.js';
import { AcceptRateMeter } from '../../src/server/accept-rate.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';

const NOW = 1_000_000;

function server(name: string, balance: number, extra: Partial<ServerInfo> = {}): ServerInfo {
  return { name, ip: '10.0.0.1', port: 9000, balance, ...extra };
}

function ctx(random: () => number, over: Partial<PickContext> = {}): PickContext {
  return { pending: new Map(), random, sequence: 0, now: NOW, ...over };
}

function count(names: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of names) m.set(n, (m.get(n) ?? 0) + 1);
  return m;
}

/** A picture every server took `rate` accepts/s in, read just now (the shape a fleet burst sees). */
function busyPicture(balances: number[], ratePerServer: number): Snapshot {
  return makeSnapshot(
    balances.map((b, i) => server(`s${i}`, b, { acceptRate: ratePerServer, updatedAt: NOW })),
    1,
    NOW,
  );
}

test('water-level - fills the lowest loads first, then rises evenly', () => {
  assert.equal(waterLevel([0, 25, 50, 75, 100], 25), 25);
  assert.equal(waterLevel([0, 25, 50, 75, 100], 2_000), 450);
  assert.equal(waterLevel([10, 10, 40], 10), 15);
  assert.equal(waterLevel([5], 3), 8);
});

test('water-fill - reduces to least (same picks, same random draws) when no arrivals are expected', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const shape = mulberry32(seed);
    const servers = Array.from({ length: 2 + Math.floor(shape() * 6) }, (_, i) => server(`s${i}`, Math.floor(shape() * 4)));
    const pending = new Map(servers.filter(() => shape() < 0.3).map((s) => [s.name, 1 + Math.floor(shape() * 2)]));
    const snapshot = makeSnapshot(servers, 1, NOW);
    const a = mulberry32(seed * 7);
    const b = mulberry32(seed * 7);
    for (let i = 0; i < 50; i++) {
      const viaWaterFill = waterFill(snapshot.servers, snapshot, ctx(a, { pending, sequence: i }));
      const viaLeast = least(snapshot.servers, snapshot, ctx(b, { pending, sequence: i }));
      assert.equal(viaWaterFill?.name, viaLeast?.name, `seed ${seed} pick ${i}`);
    }
  }
});

test('water-fill - expects no arrivals from accept rates that are only its own, or that have faded', () => {
  const rate = 400; // per server, 2,000/s in all
  const mine = busyPicture([10, 10, 10, 10, 10], rate);
  const ownPicks = (5 * rate * ACCEPT_RATE_WINDOW_MS) / 1000;
  assert.equal(expectedArrivals(mine, ctx(Math.random, { ownRecentPicks: ownPicks })), 0);
  const faded = makeSnapshot(mine.servers.map((s) => ({ ...s, updatedAt: NOW - ACCEPT_RATE_WINDOW_MS })), 2, NOW);
  assert.equal(expectedArrivals(faded, ctx(Math.random)), 0);
  // A one-shot read ages from when it began; a live (watch-driven) picture is as of now, so a
  // node not written for 200 ms means few accepts lately.
  const written200msAgo = mine.servers.map((s) => ({ ...s, updatedAt: NOW - 200 }));
  const oneShot = makeSnapshot(written200msAgo, 3, NOW - 200);
  const live = makeSnapshot(written200msAgo, 3, NOW - 200, { live: true });
  assert.ok(Math.abs(expectedArrivals(oneShot, ctx(Math.random)) - (2_000 * (DEFAULT_BLIND_WINDOW_MS + 200)) / 1000) < 1e-9);
  assert.ok(Math.abs(expectedArrivals(live, ctx(Math.random)) - (2_000 * (1 - 200 / ACCEPT_RATE_WINDOW_MS) * DEFAULT_BLIND_WINDOW_MS) / 1000) < 1e-9);
});

test('water-fill - estimates the flow from the accept rates over the blind window plus the picture age', () => {
  const picture = busyPicture([0, 0, 0, 0, 0], 1_000);
  const fresh = expectedArrivals(picture, ctx(Math.random));
  assert.ok(Math.abs(fresh - (5_000 * DEFAULT_BLIND_WINDOW_MS) / 1000) < 1e-9, `${fresh}`);
  const older = expectedArrivals(picture, ctx(Math.random, { now: NOW + 100 }));
  assert.ok(Math.abs(older - (5_000 * (DEFAULT_BLIND_WINDOW_MS + 100)) / 1000) < 1e-9, `${older}`);
});

test('water-fill - many independent picks on one stale picture fill the gaps toward the water level', () => {
  const balances = [0, 25, 50, 75, 100];
  // 2,000 pickers reading the same moment: each expects the other 1,999 (rate × blind window).
  const others = 1_999;
  const picture = busyPicture(balances, (others * 1000) / DEFAULT_BLIND_WINDOW_MS / balances.length);
  assert.ok(Math.abs(expectedArrivals(picture, ctx(Math.random)) - others) < 1e-6);
  const random = mulberry32(42);
  const picks = count(Array.from({ length: others + 1 }, () => waterFill(picture.servers, picture, ctx(random))!.name));
  const level = waterLevel(balances, others + 1);
  assert.equal(level, 450);
  balances.forEach((b, i) => {
    const expected = level - b;
    const got = picks.get(`s${i}`) ?? 0;
    const sd = Math.sqrt(expected * (1 - expected / (others + 1)));
    assert.ok(Math.abs(got - expected) <= 4 * sd, `s${i}: ${got} picks, expected ${expected} ± ${(4 * sd).toFixed(0)}`);
  });
  const finals = balances.map((b, i) => b + (picks.get(`s${i}`) ?? 0));
  const spread = (Math.max(...finals) - Math.min(...finals)) / 450;
  assert.ok(spread <= 0.15, `final loads ${finals.join('/')}`);
  // The same picture under least: every picker takes the one minimum.
  const herd = count(Array.from({ length: others + 1 }, () => least(picture.servers, picture, ctx(random))!.name));
  assert.equal(herd.get('s0'), others + 1);
});

test('water-fill - orphans each picking on their own expect the lost server\'s connections and spread over the survivors', () => {
  const survivors = [server('a', 1_000), server('b', 1_003), server('c', 998), server('d', 1_001)];
  const victim = server('e', 1_000);
  const picture = makeSnapshot([...survivors, victim], 1, NOW);
  const random = mulberry32(7);
  const orphan = (strategy: string) => {
    // A provider and a failure memory per orphan: nothing shared but the picture.
    const down = new DownInstancePolicy({ now: () => NOW });
    down.fail('e'); // its connection to e just broke
    const own = new BalanceProvider({ source: { snapshot: async () => picture }, strategy, random, now: () => NOW, isQuarantined: down.isQuarantined, isFailing: down.hasFailed });
    return own.pickSync(picture, { exclude: new Set(['e']) }).name;
  };
  const got = count(Array.from({ length: 1_000 }, () => orphan('water-fill')));
  const finals = survivors.map((s) => s.balance + (got.get(s.name) ?? 0));
  const mean = finals.reduce((x, y) => x + y, 0) / finals.length;
  assert.ok((Math.max(...finals) - Math.min(...finals)) / mean <= 0.1, `survivors ${finals.join('/')}`);
  assert.ok(!got.has('e'));
  // least on the same picture: all of them onto c.
  assert.deepEqual([...new Set(Array.from({ length: 50 }, () => orphan('least')))], ['c']);
});

test('water-fill - a client leaving a healthy server on purpose (a migration) does not count that server\'s clients as arriving', () => {
  const picture = makeSnapshot([server('a', 500), server('b', 500), server('c', 500), server('new', 300)], 1, NOW);
  const random = mulberry32(11);
  for (let i = 0; i < 200; i++) {
    const down = new DownInstancePolicy({ now: () => NOW });
    const own = new BalanceProvider({ source: { snapshot: async () => picture }, random, now: () => NOW, isQuarantined: down.isQuarantined, isFailing: down.hasFailed });
    assert.equal(own.pickSync(picture, { exclude: new Set(['a']) }).name, 'new');
  }
});

test('down-instance policy - hasFailed until the window passes or the server succeeds', () => {
  let now = 0;
  const down = new DownInstancePolicy({ now: () => now, windowMs: 1_000, failures: 2, quarantineMs: 5_000 });
  assert.equal(down.hasFailed('x'), false);
  down.fail('x');
  assert.equal(down.hasFailed('x'), true);
  now = 1_001;
  assert.equal(down.hasFailed('x'), false);
  down.fail('x');
  down.fail('x'); // quarantined now
  now = 3_000;
  assert.equal(down.hasFailed('x'), true);
  down.succeed('x');
  assert.equal(down.hasFailed('x'), false);
});

test('water-fill - a departed server\'s load counts while it is fresh and fades over the memory window', () => {
  const servers = [server('a', 100), server('b', 100)];
  const at = (age: number) => makeSnapshot(servers, 1, NOW, { departed: [{ name: 'x', balance: 400, at: NOW - age }] });
  assert.equal(expectedArrivals(at(0), ctx(Math.random)), 400);
  assert.equal(expectedArrivals(at(DEFAULT_DEPARTED_MEMORY_MS / 2), ctx(Math.random)), 200);
  assert.equal(expectedArrivals(at(DEFAULT_DEPARTED_MEMORY_MS + 1), ctx(Math.random)), 0);
  // Its own re-homed picks count against it.
  assert.equal(expectedArrivals(at(0), ctx(Math.random, { ownRecentPicks: 150 })), 250);
});

test('water-fill - rejects bad windows', () => {
  assert.throws(() => createWaterFillStrategy({ blindWindowMs: -1 }), InvalidArgumentError);
  assert.throws(() => createWaterFillStrategy({ departedMemoryMs: 0 }), InvalidArgumentError);
});

test('departed memory - remembers a vanished server with its last balance until it returns or ages out', () => {
  const m = new DepartedMemory(1_000);
  assert.deepEqual(m.observe([server('a', 5), server('b', 7)], 0), []);
  assert.deepEqual(m.observe([server('a', 6)], 10), [{ name: 'b', balance: 7, at: 10 }]);
  assert.deepEqual(m.observe([server('a', 6)], 500), [{ name: 'b', balance: 7, at: 10 }]);
  assert.deepEqual(m.observe([server('a', 6)], 1_011), []);
  m.observe([server('a', 6), server('b', 1)], 1_100);
  m.observe([server('b', 1)], 1_200);
  assert.deepEqual(m.observe([server('a', 2), server('b', 1)], 1_300), [], 'a came back');
});

test('recent picks - counts the picks of the last window only', () => {
  const r = new RecentPicks(100);
  for (let t = 0; t < 3_000; t++) r.add(t);
  assert.equal(r.count(2_999), 100);
  assert.equal(r.count(3_050), 49);
  assert.equal(r.count(10_000), 0);
});

test('accept rate meter - accepts per second over the window, forgetting older ones', () => {
  let now = 10_000;
  const m = new AcceptRateMeter(250, () => now);
  assert.equal(m.perSecond(), 0);
  for (let i = 0; i < 50; i++) m.record();
  assert.equal(m.perSecond(), 200);
  now += 100;
  for (let i = 0; i < 25; i++) m.record();
  assert.equal(m.perSecond(), 300);
  now += 200; // the first 50 are out of the window now
  assert.equal(m.perSecond(), 100);
  now += 1_000;
  assert.equal(m.perSecond(), 0);
});
