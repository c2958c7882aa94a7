import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/messaging/routes/route-table.js';
import { candidateShards, shardIndex } from '../../src/messaging/routes/route.js';
import { encodeShard } from '../../src/messaging/routes/shard-codec.js';
import { C } from '../../src/zk/codes.js';
import { captureLogger } from '../helpers/log-capture.js';
import { MemoryZk, type MemoryHandle, type MemorySession } from '../helpers/memory-zk.js';
import { eventually } from '../helpers/eventually.js';

const ROOT = '/fulcrum/routes';

/** Writes a shard the way a server does (create, then set), from its own handle. */
async function writeShard(zk: MemoryHandle, name: string, users: Record<string, [number, number]>): Promise<void> {
  const server = name.slice(0, name.lastIndexOf('#'));
  const data = encodeShard({ server, users: new Map(Object.entries(users)) });
  if (await zk.exists(`${ROOT}/${name}`)) await zk.set(`${ROOT}/${name}`, data, -1);
  else await zk.create(`${ROOT}/${name}`, data, C.ZOO_EPHEMERAL);
}

async function setup(): Promise<{ tree: MemoryZk; session: MemorySession; table: RouteTable; server: MemoryHandle; changed: string[][]; lines: Record<string, unknown>[] }> {
  const tree = new MemoryZk();
  const server = tree.client();
  await server.create('/fulcrum', Buffer.alloc(0));
  await server.create(ROOT, Buffer.alloc(0));
  const session = tree.session();
  const { logger, lines } = captureLogger();
  const table = new RouteTable({ session, routesRoot: ROOT, logger, resyncIntervalMs: 0 });
  const changed: string[][] = [];
  table.on('changed', (users) => changed.push([...users]));
  return { tree, session, table, server, changed, lines };
}

test('route table - candidate shards: the user shard under every count a server had, none beyond what it lists', () => {
  for (const user of ['a', 'bob', 'ünïcödé', '用户名']) {
    assert.deepEqual(candidateShards(user, 0), [0]);
    const under8 = candidateShards(user, 7);
    for (const count of [1, 2, 4, 8]) assert.ok(under8.includes(shardIndex(user, count)), `${user} under ${count}`);
    assert.ok(under8.every((k) => k <= 7));
    // Mid-split (shards 0..5 listed, the count going to 8): the new shard when it is listed, else the old ones.
    const mid = candidateShards(user, 5);
    assert.ok(mid.includes(shardIndex(user, 4)));
    if (shardIndex(user, 8) <= 5) assert.ok(mid.includes(shardIndex(user, 8)));
  }
});

test('route - the shard hash spreads names that differ only in the high bits of their characters', () => {
  // Each name's characters step by multiples of 16 code points with the name's index: plain
  // FNV-1a would give all of them the same low 4 bits, i.e. the same shard out of 16.
  const names = Array.from({ length: 8_192 }, (_, i) => Array.from({ length: 42 }, (_, j) => String.fromCharCode(0x4e00 + 16 * (((i >> (4 * (j % 4))) & 15) + 16 * (j % 8)))).join(''));
  assert.equal(new Set(names).size, names.length);
  const perShard = new Array<number>(16).fill(0);
  for (const n of names) perShard[shardIndex(n, 16)]!++;
  assert.ok(perShard.every((c) => c > 512 * 0.75 && c < 512 * 1.25), `users per shard: ${perShard.join(' ')}`);
});

test('route table - shards become the best route per user; changes and removals arrive through watches', async () => {
  const { table, server, changed } = await setup();
  try {
    await writeShard(server, 's1#0', { alice: [10, 1] });
    await table.start();
    assert.equal(table.best('alice')?.server, 's1');
    // alice logs in on s2 later: the newer login wins.
    await writeShard(server, 's2#0', { alice: [20, 1], bob: [21, 2] });
    assert.ok(await eventually(() => table.best('alice')?.server === 's2' && table.best('bob')?.server === 's2'));
    // s1 drops her; s2's shard disappears (its session ended).
    await writeShard(server, 's1#0', {});
    await server.delete(`${ROOT}/s2#0`, -1);
    assert.ok(await eventually(() => table.size === 0));
    assert.ok(changed.some((c) => c.includes('bob')));
    assert.equal(table.stats.failures, 0);
  } finally {
    table.close();
  }
});

test('route table - lookup() finds a route whose watch notification has not arrived, with one synced read', async () => {
  const { table, session, server } = await setup();
  try {
    await writeShard(server, 's1#0', { alice: [10, 1] });
    await table.start();
    session.client.holdWatches(); // the router's notifications are late
    await writeShard(server, 's1#0', { alice: [10, 1], bob: [11, 2] });
    await writeShard(server, 's2#0', { carol: [12, 1] });
    await writeShard(server, 's2#1', { dave: [13, 2] });
    assert.equal(table.best('bob'), undefined, 'the watch has not told the table');
    const syncs = table.stats.syncs;
    assert.equal((await table.lookup('bob'))?.server, 's1');
    assert.equal(table.stats.syncs, syncs + 1);
    assert.equal((await table.lookup('carol'))?.server, 's2', 'a shard of a server the table had not seen yet');
    assert.equal((await table.lookup('dave'))?.server, 's2');
    assert.equal(await table.lookup('nobody'), undefined);
    // A known route costs nothing.
    const before = table.stats.syncs;
    assert.equal((await table.lookup('alice'))?.server, 's1');
    assert.equal(table.stats.syncs, before);
    session.client.releaseWatches();
  } finally {
    table.close();
  }
});

test('route table - without a connection to ZooKeeper lookup() answers from memory at once', async () => {
  const { table, session, server } = await setup();
  try {
    await table.start();
    await writeShard(server, 's1#0', { alice: [10, 1] });
    await eventually(() => table.best('alice') !== undefined);
    session.disconnect();
    const syncs = table.stats.syncs;
    assert.equal((await table.lookup('alice'))?.server, 's1');
    assert.equal(await table.lookup('nobody'), undefined);
    assert.equal(table.stats.syncs, syncs, 'no sync attempted');
    session.reconnect();
  } finally {
    table.close();
  }
});

test('route table - a read refused by ZooKeeper is reported with its code and retried with backoff until it works', async () => {
  const { tree, table, server, lines } = await setup();
  try {
    await table.start();
    tree.fail({ op: 'get', path: `${ROOT}/s1#0`, code: C.ZNOAUTH, times: 2 });
    await writeShard(server, 's1#0', { alice: [10, 1] });
    assert.ok(await eventually(() => table.best('alice') !== undefined), 'read once the refusals stop');
    const reported = lines.filter((l) => l.component === 'RouteTable');
    assert.equal(reported.length, 2, 'each refused read said once');
    assert.ok(reported.every((l) => (l.err as { zkCode?: number }).zkCode === C.ZNOAUTH && l.code === 'FULCRUM_ZK_OPERATION'));
    assert.equal(table.stats.failures, 2);
    const gets = tree.attempts.filter((a) => a.op === 'get' && a.path === `${ROOT}/s1#0`);
    assert.ok(gets.at(-1)!.at - gets[0]!.at >= 2 * 100 - 4, 'the retries waited (backoff from 100 ms)');
  } finally {
    table.close();
  }
});

test('route table - after session expiry it follows the new handle, re-reads everything and keeps watching', async () => {
  const { table, session, server } = await setup();
  try {
    await writeShard(server, 's1#0', { alice: [10, 1], bob: [11, 2] });
    await table.start();
    const old = session.client;
    assert.equal(old.listenerCount('child'), 1);
    const renewed = session.expire();
    // Changed between expiry and the new session: only the resync can see it.
    await writeShard(server, 's1#0', { alice: [10, 1] });
    await renewed;
    assert.ok(await eventually(() => table.best('bob') === undefined && table.best('alice') !== undefined), 'resynced');
    assert.equal(old.listenerCount('child'), 0, 'nothing left on the dead handle');
    assert.equal(session.client.listenerCount('child'), 1);
    await writeShard(server, 's1#0', { alice: [10, 1], carol: [12, 3] });
    assert.ok(await eventually(() => table.best('carol') !== undefined), 'watching on the new handle');
  } finally {
    table.close();
  }
});

test('route table - kept as shard bytes: a user in two shards counts once and is listed once with its latest login; only real changes are told', async () => {
  const { table, server, changed } = await setup();
  try {
    await writeShard(server, 's1#0', { alice: [10, 1], bob: [11, 2], carol: [12, 3] });
    await writeShard(server, 's1#1', { bob: [11, 2] }); // bob moving to a new shard of s1 (same login)
    await writeShard(server, 's2#0', { alice: [20, 1] }); // alice logged in again on s2
    await table.start();
    assert.equal(table.size, 3);
    assert.deepEqual([...table.entries()].map(([u, r]) => [u, r.server, r.since]).sort(), [['alice', 's2', 20], ['bob', 's1', 11], ['carol', 's1', 12]]);
    assert.deepEqual([...table.entries('b')].map(([u]) => u), ['bob']);
    assert.deepEqual([...table.entries('x')], []);
    changed.length = 0;
    // s1#0 re-written: bob and alice leave it, carol's login is unchanged, dave arrives.
    await writeShard(server, 's1#0', { carol: [12, 3], dave: [13, 4] });
    assert.ok(await eventually(() => table.best('dave') !== undefined));
    assert.deepEqual(changed.flat().sort(), ['alice', 'bob', 'dave']);
    assert.equal(table.size, 4, 'bob is still in s1#1, alice on s2');
    assert.equal(table.best('bob')?.shard, 's1#1');
    // A shard that is not one routes nobody; removing a shard removes only its users.
    await server.set(`${ROOT}/s1#1`, Buffer.from('not msgpack'), -1);
    assert.ok(await eventually(() => table.best('bob') === undefined));
    await server.delete(`${ROOT}/s2#0`, -1);
    assert.ok(await eventually(() => table.size === 2));
    assert.deepEqual([...table.entries()].map(([u]) => u).sort(), ['carol', 'dave']);
    // Thousands of users come and go: the count follows.
    const many = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`u${i}`, [100 + i, i] as [number, number]]));
    await writeShard(server, 's3#0', many);
    assert.ok(await eventually(() => table.size === 5_002));
    assert.equal(table.best('u4321')?.since, 4421);
    await writeShard(server, 's3#0', { u7: [1_000, 1] });
    assert.ok(await eventually(() => table.size === 3));
    assert.equal(table.best('u7')?.since, 1_000);
    assert.equal(table.best('u4321'), undefined);
  } finally {
    table.close();
  }
});
