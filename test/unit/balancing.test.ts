import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import {
  DEFAULT_STRATEGY,
  DEFAULT_VIRTUAL_NODES,
  createHashStrategy,
  hash,
  least,
  p2c,
  random,
  roundRobin,
  waterFill,
  weighted,
} from '../../src/balancing/index.js';
import { DEFAULT_PENDING_TTL_MS, PendingPicks } from '../../src/balancing/pending-picks.js';
import { type PickContext, type Strategy } from '../../src/balancing/strategy.js';
import { getStrategy, strategyNames } from '../../src/balancing/strategy-registry.js';
import { makeSnapshot, type ServerInfo, type ServerSource, type Snapshot } from '../../src/discovery/snapshot.js';
import { InvalidArgumentError, NoServersError } from '../../src/errors.js';
import { mulberry32 } from '../../src/tools/seeded-random.js';


function server(name: string, balance = 0, extra: Partial<ServerInfo> = {}): ServerInfo {
  return { name, ip: '10.0.0.1', port: 9000, balance, ...extra };
}

function snap(servers: ServerInfo[], version = 1): Snapshot {
  return makeSnapshot(servers, version, 0);
}

function equalServers(n: number, balance = 0): ServerInfo[] {
  return Array.from({ length: n }, (_, i) => server(`s${i}`, balance));
}

function ctx(over: Partial<PickContext> = {}): PickContext {
  return { pending: new Map(), random: mulberry32(1), sequence: 0, ...over };
}

/** A source that always returns the same (stale) snapshot, like a cache between watch events. */
function staticSource(snapshot: Snapshot): ServerSource {
  return { snapshot: () => Promise.resolve(snapshot) };
}

/** A source whose snapshot the test can replace. */
function mutableSource(initial: Snapshot): ServerSource & { current: Snapshot } {
  const src = { current: initial, snapshot: () => Promise.resolve(src.current) };
  return src;
}

function pickAll(strategy: Strategy, s: Snapshot, n: number, c: PickContext = ctx()): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const chosen = strategy(s.servers, s, { ...c, sequence: i });
    assert.ok(chosen);
    counts.set(chosen.name, (counts.get(chosen.name) ?? 0) + 1);
  }
  return counts;
}

async function providerCounts(p: BalanceProvider, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const chosen = await p.pick();
    counts.set(chosen.name, (counts.get(chosen.name) ?? 0) + 1);
  }
  return counts;
}

function spread(counts: Map<string, number>, names: readonly string[]): { max: number; min: number; mean: number } {
  const values = names.map((n) => counts.get(n) ?? 0);
  return { max: Math.max(...values), min: Math.min(...values), mean: values.reduce((a, b) => a + b, 0) / values.length };
}

// ---------------------------------------------------------------- registry

test('registry - index registers all seven strategies under their names', () => {
  for (const name of ['least', 'p2c', 'round-robin', 'random', 'hash', 'weighted', 'water-fill']) assert.ok(strategyNames().includes(name));
  assert.equal(getStrategy('least'), least);
  assert.equal(getStrategy('round-robin'), roundRobin);
  assert.equal(getStrategy('water-fill'), waterFill);
  assert.equal(DEFAULT_STRATEGY, 'water-fill');
  assert.equal(DEFAULT_VIRTUAL_NODES, 160);
});

test('registry - unknown strategy name fails at provider construction', () => {
  const source = staticSource(snap(equalServers(1)));
  assert.throws(() => new BalanceProvider({ source, strategy: 'nope' }), InvalidArgumentError);
});

// ---------------------------------------------------------------- least

test('least - picks the lowest balance', () => {
  const s = snap([server('a', 5), server('b', 2), server('c', 9)]);
  assert.equal(least(s.servers, s, ctx())?.name, 'b');
});

test('least - counts pending picks in the load', () => {
  const s = snap([server('a', 5), server('b', 2)]);
  assert.equal(least(s.servers, s, ctx({ pending: new Map([['b', 4]]) }))?.name, 'a');
});

test('least - breaks ties uniformly at random', () => {
  const s = snap([server('a', 1), server('b', 1), server('c', 1), server('d', 7)]);
  const counts = pickAll(least, s, 3000);
  assert.equal(counts.get('d'), undefined);
  for (const n of ['a', 'b', 'c']) assert.ok(Math.abs((counts.get(n) ?? 0) - 1000) < 100, `${n}: ${counts.get(n)}`);
});

test('least - herds: every pick from one stale snapshot lands on the single min', () => {
  const s = snap([server('a', 3), server('b', 1), server('c', 2)]);
  assert.deepEqual([...pickAll(least, s, 100)], [['b', 100]]);
});

test('least - returns undefined for no candidates', () => {
  assert.equal(least([], snap([]), ctx()), undefined);
});

// ---------------------------------------------------------------- p2c

test('p2c - never picks the busier of two', () => {
  const s = snap([server('a', 10), server('b', 3)]);
  assert.deepEqual([...pickAll(p2c, s, 200)], [['b', 200]]);
});

test('p2c - never picks the single busiest of many', () => {
  const s = snap([server('a', 1), server('b', 2), server('c', 3), server('d', 100)]);
  const counts = pickAll(p2c, s, 2000);
  assert.equal(counts.get('d'), undefined);
  // The least loaded wins whenever it is drawn: in 1/2 of draws with 4 servers.
  assert.ok((counts.get('a') ?? 0) > 900);
});

test('p2c - one candidate is returned as is, none gives undefined', () => {
  const s = snap([server('only', 50)]);
  assert.equal(p2c(s.servers, s, ctx())?.name, 'only');
  assert.equal(p2c([], snap([]), ctx()), undefined);
});

test('p2c - ties between equally loaded servers are split', () => {
  const s = snap(equalServers(2));
  const counts = pickAll(p2c, s, 2000);
  assert.ok(Math.abs((counts.get('s0') ?? 0) - 1000) < 100);
});

// ---------------------------------------------------------------- round-robin and random

test('round-robin - cycles by sequence', () => {
  const s = snap(equalServers(3));
  const names = [0, 1, 2, 3, 4, 5].map((sequence) => roundRobin(s.servers, s, ctx({ sequence }))?.name);
  assert.deepEqual(names, ['s0', 's1', 's2', 's0', 's1', 's2']);
  assert.equal(roundRobin([], snap([]), ctx()), undefined);
});

test('random - is roughly uniform and ignores load', () => {
  const s = snap([server('a', 0), server('b', 1000), server('c', 0), server('d', 0)]);
  const counts = pickAll(random, s, 4000);
  for (const n of ['a', 'b', 'c', 'd']) assert.ok(Math.abs((counts.get(n) ?? 0) - 1000) < 120, `${n}: ${counts.get(n)}`);
});

// ---------------------------------------------------------------- weighted

test('weighted - picks the lowest fill ratio', () => {
  // 50/100 = 0.5 vs 100/300 = 0.33
  const s = snap([server('small', 50, { maxConnections: 100 }), server('big', 100, { maxConnections: 300 })]);
  assert.equal(weighted(s.servers, s, ctx())?.name, 'big');
});

test('weighted - excludes full servers and returns undefined when all are full', () => {
  const s = snap([server('full', 100, { maxConnections: 100 }), server('room', 250, { maxConnections: 300 })]);
  assert.deepEqual([...pickAll(weighted, s, 50)], [['room', 50]]);
  const pendingFull = ctx({ pending: new Map([['room', 50]]) });
  assert.equal(weighted(s.servers, s, pendingFull), undefined);
});

test('weighted - servers without a limit count as the mean capacity', () => {
  // Mean of 100 and 300 is 200: 'free' at 150/200 = 0.75 loses to 'big' at 200/300 = 0.67.
  const s = snap([
    server('small', 90, { maxConnections: 100 }),
    server('big', 200, { maxConnections: 300 }),
    server('free', 150),
  ]);
  assert.equal(weighted(s.servers, s, ctx())?.name, 'big');
  // Without any limit the weight is 1 each, so it is plain least.
  const plain = snap([server('a', 4), server('b', 3)]);
  assert.equal(weighted(plain.servers, plain, ctx())?.name, 'b');
});

test('weighted - respects capacity: 100 and 300 get about 1:3 through the provider', async () => {
  const s = snap([server('small', 0, { maxConnections: 100 }), server('big', 0, { maxConnections: 300 })]);
  const p = new BalanceProvider({ source: staticSource(s), strategy: 'weighted', random: mulberry32(7), now: () => 0 });
  const counts = await providerCounts(p, 200);
  const ratio = (counts.get('big') ?? 0) / (counts.get('small') ?? 1);
  assert.ok(ratio > 2.7 && ratio < 3.3, `ratio ${ratio}`);
});

// ---------------------------------------------------------------- hash

function keyOwners(strategy: Strategy, s: Snapshot, keys: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < keys; i++) {
    const chosen = strategy(s.servers, s, ctx({ key: `user-${i}` }));
    assert.ok(chosen);
    out.push(chosen.name);
  }
  return out;
}

test('hash - same key goes to the same server across calls', () => {
  const s = snap(equalServers(5));
  const first = keyOwners(hash, s, 500);
  // A fresh array of the same servers (cache by names) and a fresh strategy (rebuilt ring) agree.
  const copy = snap(equalServers(5), 2);
  assert.deepEqual(keyOwners(hash, copy, 500), first);
  assert.deepEqual(keyOwners(createHashStrategy(), s, 500), first);
});

test('hash - keys spread over all servers', () => {
  const s = snap(equalServers(5));
  const counts = new Map<string, number>();
  for (const n of keyOwners(hash, s, 10_000)) counts.set(n, (counts.get(n) ?? 0) + 1);
  for (const n of ['s0', 's1', 's2', 's3', 's4']) {
    const c = counts.get(n) ?? 0;
    assert.ok(c > 1_200 && c < 2_800, `${n}: ${c}`);
  }
});

test('hash - adding a server moves about 1/6 of keys, all to the new server', () => {
  const before = keyOwners(hash, snap(equalServers(5)), 10_000);
  const after = keyOwners(hash, snap(equalServers(6), 2), 10_000);
  let moved = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== after[i]) {
      moved++;
      assert.equal(after[i], 's5', `key ${i} moved ${before[i]} -> ${after[i]}`);
    }
  }
  const share = moved / before.length;
  assert.ok(share > 0.08 && share < 0.25, `moved ${share}`);
});

test('hash - removing a server moves only the keys it owned', () => {
  const before = keyOwners(hash, snap(equalServers(6)), 5_000);
  const after = keyOwners(hash, snap(equalServers(6).filter((s) => s.name !== 's2'), 2), 5_000);
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== 's2') assert.equal(after[i], before[i]);
    else assert.notEqual(after[i], 's2');
  }
});

test('hash - without a key behaves like p2c', () => {
  const s = snap([server('a', 10), server('b', 3)]);
  assert.deepEqual([...pickAll(hash, s, 100)], [['b', 100]]);
});

test('hash - rejects a non-positive virtual node count', () => {
  assert.throws(() => createHashStrategy(0), InvalidArgumentError);
});

// ---------------------------------------------------------------- pending picks

test('pending - counts picks per server and in total', () => {
  const p = new PendingPicks({ now: () => 0 });
  p.add('a');
  p.add('a');
  p.add('b');
  assert.deepEqual([...p.view], [['a', 2], ['b', 1]]);
  assert.equal(p.size, 3);
});

test('pending - a reported balance rise retires that many picks, oldest first', () => {
  let now = 0;
  const p = new PendingPicks({ now: () => now, ttlMs: 1_000 });
  p.observe(snap([server('a', 10)]));
  p.add('a'); // t=0
  now = 600;
  p.add('a'); // t=600
  p.add('a');
  p.observe(snap([server('a', 11)], 2));
  assert.equal(p.view.get('a'), 2);
  // Had the newest been retired, the t=0 pick would still be there to expire at t=1001.
  p.expire(1_001);
  assert.equal(p.view.get('a'), 2);
  p.observe(snap([server('a', 20)], 3));
  assert.equal(p.view.get('a'), undefined);
  assert.equal(p.size, 0);
});

test('pending - a balance drop retires nothing and becomes the new baseline', () => {
  const p = new PendingPicks({ now: () => 0 });
  p.observe(snap([server('a', 10)]));
  p.add('a');
  p.observe(snap([server('a', 4)], 2));
  assert.equal(p.view.get('a'), 1);
  p.observe(snap([server('a', 5)], 3));
  assert.equal(p.view.get('a'), undefined);
});

test('pending - a server that disappears drops its pending', () => {
  const p = new PendingPicks({ now: () => 0 });
  p.observe(snap([server('a'), server('b')]));
  p.add('a');
  p.add('b');
  p.observe(snap([server('b')], 2));
  assert.deepEqual([...p.view], [['b', 1]]);
  assert.equal(p.size, 1);
});

test('pending - picks older than the ttl expire with an injected clock', () => {
  let now = 1_000;
  const p = new PendingPicks({ now: () => now });
  p.add('a');
  now = 3_000;
  p.add('a');
  p.expire(1_000 + DEFAULT_PENDING_TTL_MS);
  assert.equal(p.view.get('a'), 2);
  p.expire(1_001 + DEFAULT_PENDING_TTL_MS);
  assert.equal(p.view.get('a'), 1);
  now = 3_001 + DEFAULT_PENDING_TTL_MS;
  p.expire(); // defaults to the injected clock
  assert.equal(p.size, 0);
  assert.equal(p.view.size, 0);
});

test('pending - add trims expired picks even if expire is never called', () => {
  let now = 0;
  const p = new PendingPicks({ now: () => now, ttlMs: 10 });
  for (let i = 0; i < 1_000; i++) {
    now = i;
    p.add('a');
  }
  assert.ok(p.size <= 11, `size ${p.size}`);
});

test('pending - release forgets one pick', () => {
  const p = new PendingPicks({ now: () => 0 });
  p.add('a');
  p.add('a');
  p.release('a');
  assert.equal(p.view.get('a'), 1);
  p.release('a');
  p.release('a');
  p.release('missing');
  assert.equal(p.size, 0);
  assert.equal(p.view.has('a'), false);
});

test('pending - rejects a non-positive ttl', () => {
  assert.throws(() => new PendingPicks({ ttlMs: 0 }), InvalidArgumentError);
});

// ---------------------------------------------------------------- provider

const FIVE = ['s0', 's1', 's2', 's3', 's4'];

test('provider - least without pending herds onto the single min of a stale snapshot', async () => {
  const s = snap([server('s0', 3), server('s1', 2), server('s2', 1), server('s3', 2), server('s4', 3)]);
  const p = new BalanceProvider({ source: staticSource(s), strategy: 'least', pending: false, random: mulberry32(3) });
  assert.deepEqual([...(await providerCounts(p, 1_000))], [['s2', 1_000]]);
  assert.equal(p.pending.size, 0);
});

test('provider - least with pending spreads 1000 picks over 5 servers within 1', async () => {
  const p = new BalanceProvider({ source: staticSource(snap(equalServers(5))), strategy: 'least', random: mulberry32(3), now: () => 0 });
  const { max, min } = spread(await providerCounts(p, 1_000), FIVE);
  assert.ok(max - min <= 1, `max ${max} min ${min}`);
});

test('provider - p2c with pending spreads 1000 picks within 10% of the mean', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const p = new BalanceProvider({ source: staticSource(snap(equalServers(5))), strategy: 'p2c', random: mulberry32(seed), now: () => 0 });
    const { max, min, mean } = spread(await providerCounts(p, 1_000), FIVE);
    assert.ok(max - min <= 0.1 * mean, `seed ${seed}: max ${max} min ${min}`);
  }
});

test('provider - default strategy picks the least-loaded server', async () => {
  const s = snap([server('a', 10), server('b', 3)]);
  const p = new BalanceProvider({ source: staticSource(s), pending: false, random: mulberry32(9) });
  for (let i = 0; i < 50; i++) assert.equal((await p.pick()).name, 'b');
});

test('provider - draining and full servers are never picked', async () => {
  const s = snap([
    server('draining', 0, { draining: true }),
    server('full', 10, { maxConnections: 10 }),
    server('ok', 500),
  ]);
  for (const strategy of ['least', 'p2c', 'round-robin', 'random', 'hash', 'weighted', 'water-fill']) {
    const p = new BalanceProvider({ source: staticSource(s), strategy, random: mulberry32(4) });
    for (let i = 0; i < 30; i++) assert.equal((await p.pick({ key: `k${i}` })).name, 'ok', strategy);
  }
});

test('provider - pending picks count toward maxConnections', async () => {
  const s = snap([server('a', 8, { maxConnections: 10 })]);
  const p = new BalanceProvider({ source: staticSource(s), strategy: 'least', now: () => 0 });
  await p.pick();
  await p.pick();
  await assert.rejects(p.pick(), NoServersError);
  p.release('a');
  assert.equal((await p.pick()).name, 'a');
});

test('provider - NoServersError on an empty snapshot names the root', async () => {
  const p = new BalanceProvider({ source: staticSource(snap([])), root: '/fulcrum/servers' });
  await assert.rejects(p.pick(), (err: unknown) => err instanceof NoServersError && err.message.includes('/fulcrum/servers'));
  const d = new BalanceProvider({ source: staticSource(snap([])) });
  await assert.rejects(d.pick(), (err: unknown) => err instanceof NoServersError && err.message.includes('(discovery)'));
});

test('provider - excluded servers are skipped, and excluding all throws', async () => {
  const s = snap(equalServers(3));
  const p = new BalanceProvider({ source: staticSource(s), random: mulberry32(5) });
  for (let i = 0; i < 30; i++) assert.equal((await p.pick({ exclude: new Set(['s0', 's1']) })).name, 's2');
  await assert.rejects(p.pick({ exclude: new Set(['s0', 's1', 's2']) }), NoServersError);
});

test('provider - quarantined servers are avoided while others remain', async () => {
  const s = snap(equalServers(3));
  const p = new BalanceProvider({ source: staticSource(s), random: mulberry32(6), isQuarantined: (n) => n !== 's1' });
  for (let i = 0; i < 30; i++) assert.equal((await p.pick()).name, 's1');
});

test('provider - quarantine is ignored when it would remove every candidate', async () => {
  const s = snap(equalServers(3));
  const p = new BalanceProvider({ source: staticSource(s), strategy: 'least', random: mulberry32(6), isQuarantined: () => true, now: () => 0 });
  const { max, min } = spread(await providerCounts(p, 30), ['s0', 's1', 's2']);
  assert.ok(max - min <= 1);
  // Quarantine does not override exclude: excluded servers stay out.
  for (let i = 0; i < 10; i++) assert.equal((await p.pick({ exclude: new Set(['s0', 's1']) })).name, 's2');
});

test('provider - pending retires as servers report the connections', async () => {
  const src = mutableSource(snap(equalServers(2)));
  const p = new BalanceProvider({ source: src, strategy: 'least', random: mulberry32(8), now: () => 0 });
  await p.pick();
  await p.pick();
  assert.deepEqual([...p.pending.values()], [1, 1]);
  src.current = snap([server('s0', 1), server('s1', 1)], 2);
  await p.pick();
  assert.equal([...p.pending.values()].reduce((a, b) => a + b, 0), 1);
});

test('provider - pending picks expire with the injected clock', async () => {
  let now = 0;
  const s = snap(equalServers(2));
  const p = new BalanceProvider({ source: staticSource(s), strategy: 'least', random: mulberry32(8), now: () => now, pendingTtlMs: 100 });
  await p.pick();
  now = 101;
  p.pickSync(s);
  // The first pick expired before the second was made, so only one is left.
  assert.equal([...p.pending.values()].reduce((a, b) => a + b, 0), 1);
});

test('provider - round-robin advances one step per pick', async () => {
  const p = new BalanceProvider({ source: staticSource(snap(equalServers(3))), strategy: 'round-robin' });
  const names: string[] = [];
  for (let i = 0; i < 6; i++) names.push((await p.pick()).name);
  assert.deepEqual(names, ['s0', 's1', 's2', 's0', 's1', 's2']);
});

test('provider - accepts a strategy function and passes the key through', () => {
  const seen: (string | undefined)[] = [];
  const s = snap(equalServers(2));
  const p = new BalanceProvider({
    source: staticSource(s),
    strategy: (candidates, _snapshot, c) => {
      seen.push(c.key);
      return candidates[1];
    },
  });
  assert.equal(p.pickSync(s, { key: 'u1' }).name, 's1');
  assert.deepEqual(seen, ['u1']);
});

test('provider - a strategy returning undefined throws NoServersError', () => {
  const s = snap(equalServers(2));
  const p = new BalanceProvider({ source: staticSource(s), strategy: () => undefined });
  assert.throws(() => p.pickSync(s), NoServersError);
  assert.equal(p.pending.size, 0);
});
