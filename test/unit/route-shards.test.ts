import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { DEFAULT_REREGISTER_DELAY_MS, DEFAULT_RETRY_DELAY_MS } from '../../src/registry/registration.js';
import { RouteShards, SHARD_HARD_LIMIT_BYTES, type RouteShardsOptions } from '../../src/messaging/routes/route-shards.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';
import { C } from '../../src/zk/codes.js';
import { captureLogger } from '../helpers/log-capture.js';
import { cjkNames } from '../helpers/cjk-names.js';
import { MemoryZk, type MemorySession } from '../helpers/memory-zk.js';
import { eventually, resolvesWithin } from '../helpers/eventually.js';

const ROOT = '/fulcrum/routes';
/** setTimeout may fire up to a millisecond early (it rounds); lower bounds allow for that. */
const TIMER_SLACK_MS = 2;

function setup(opts: Partial<RouteShardsOptions> = {}): { tree: MemoryZk; session: MemorySession; shards: RouteShards; lines: Record<string, unknown>[] } {
  const tree = new MemoryZk();
  const session = tree.session();
  const { logger, lines } = captureLogger();
  const shards = new RouteShards({ session, routesRoot: ROOT, server: 'srv', logger, ...opts });
  return { tree, session, shards, lines };
}

/** user → the shard nodes (names) that list it, read straight from the tree. */
function usersInTree(tree: MemoryZk): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of tree.get(ROOT)?.children ?? []) {
    const shard = decodeShard(tree.get(`${ROOT}/${name}`)!.data);
    for (const u of shard?.users.keys() ?? []) out.set(u, [...(out.get(u) ?? []), name]);
  }
  return out;
}

test('route shards - set() resolves only once ZooKeeper acknowledged a write holding the route', async () => {
  const { tree, shards } = setup();
  try {
    await shards.start();
    await shards.set('alice', 1, 1);
    assert.deepEqual([...usersInTree(tree).keys()], ['alice']);
    const held = tree.hold('set', `${ROOT}/srv#0`);
    let acked = false;
    const bob = shards.set('bob', 2, 2).then(() => (acked = true));
    await held.reached; // the write carrying bob is at ZooKeeper, unanswered
    await tick();
    assert.equal(acked, false, 'not acknowledged while the write is unanswered');
    held.release();
    await bob;
    assert.ok(usersInTree(tree).has('bob'));
  } finally {
    await shards.close();
  }
});

test('route shards - a shard whose create fails after a failed write comes back without any login, with backoff, and logged', async () => {
  const { tree, session, shards, lines } = setup();
  const path = `${ROOT}/srv#0`;
  try {
    await shards.start();
    await shards.set('alice', 1, 1);
    // The next write is lost to a connection problem; while its retry waits, the session expires
    // and re-creating the shard on the new session fails twice.
    tree.fail({ op: 'set', path, code: C.ZCONNECTIONLOSS });
    tree.fail({ op: 'create', path, code: C.ZSYSTEMERROR, times: 2 });
    const createsBefore = tree.attempts.filter((a) => a.op === 'create' && a.path === path).length;
    const bob = shards.set('bob', 2, 2); // the last change: no login or logout after it
    assert.ok(await eventually(() => tree.attempts.some((a) => a.op === 'set' && a.code === C.ZCONNECTIONLOSS)), 'the write failed');
    await session.expire();
    // Well inside the 10 s verification period, which would hide a lost retry.
    assert.ok(await resolvesWithin(bob, 5_000), 'bob acknowledged: the shard came back by itself');
    const node = tree.get(path);
    assert.ok(node, 'the shard is back');
    assert.equal(node.ephemeralOwner, session.sessionId);
    assert.deepEqual([...decodeShard(node.data)!.users.keys()].sort(), ['alice', 'bob'], 'with every user in it');
    const creates = tree.attempts.filter((a) => a.op === 'create' && a.path === path).slice(createsBefore);
    assert.deepEqual(
      creates.map((a) => a.code),
      [C.ZSYSTEMERROR, C.ZSYSTEMERROR, undefined],
      'two failed creates, then one that worked',
    );
    for (let i = 1; i < creates.length; i++) assert.ok(creates[i]!.at - creates[i - 1]!.at >= DEFAULT_REREGISTER_DELAY_MS - TIMER_SLACK_MS, `create ${i} waited ${creates[i]!.at - creates[i - 1]!.at} ms`);
    const logged = lines.filter((l) => l.component === 'RouteShards' && l.path === path);
    assert.deepEqual(
      logged.map((l) => [l.code, (l.err as { zkCode?: number }).zkCode, (l.err as { attempt?: number }).attempt]),
      [
        ['FULCRUM_NODE_CREATE_FAILED', C.ZSYSTEMERROR, 1],
        ['FULCRUM_NODE_CREATE_FAILED', C.ZSYSTEMERROR, 2],
      ],
      'each failed create logged once with a stable code, the ZooKeeper code and its attempt number',
    );
  } finally {
    await shards.close();
  }
});

test('route shards - a ZNOAUTH on a shard write is logged with a stable code and retried with backoff, not every 250 ms', async () => {
  const { tree, shards, lines } = setup();
  const path = `${ROOT}/srv#0`;
  try {
    await shards.start();
    await shards.set('alice', 1, 1);
    tree.fail({ op: 'set', path, code: C.ZNOAUTH, times: 3 });
    const since = tree.attempts.length;
    assert.ok(await resolvesWithin(shards.set('bob', 2, 2)), 'written once the failures stop');
    const sets = tree.attempts.slice(since).filter((a) => a.op === 'set' && a.path === path);
    assert.deepEqual(sets.map((a) => a.code), [C.ZNOAUTH, C.ZNOAUTH, C.ZNOAUTH, undefined]);
    for (let i = 1; i < sets.length; i++) assert.ok(sets[i]!.at - sets[i - 1]!.at >= DEFAULT_RETRY_DELAY_MS - TIMER_SLACK_MS, `write ${i} waited ${sets[i]!.at - sets[i - 1]!.at} ms`);
    const logged = lines.filter((l) => l.code === 'FULCRUM_NODE_WRITE_FAILED');
    assert.equal(logged.length, 3, 'every failed write said once');
    assert.ok(logged.every((l) => (l.err as { zkCode?: number }).zkCode === C.ZNOAUTH && l.path === path));
    const delays = logged.map((l) => (l.err as { retryInMs: number }).retryInMs);
    assert.ok(delays.every((d, i) => d >= DEFAULT_RETRY_DELAY_MS && d <= DEFAULT_RETRY_DELAY_MS * 2 ** i), `delays within the doubling bounds: ${delays.join(', ')}`);
  } finally {
    await shards.close();
  }
});

test('route shards - after the session expires every shard comes back with its users, without any login', async () => {
  const { tree, session, shards } = setup({ maxUsersPerShard: 4 });
  try {
    await shards.start();
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    await Promise.all(users.map((u, i) => shards.set(u, 1, i)));
    await shards.flushed();
    const count = shards.shardCount;
    assert.ok(count >= 4, `split into ${count} shards`);
    const oldSession = session.sessionId;
    await session.expire();
    assert.equal(tree.get(ROOT)!.children.size, 0, 'the ephemerals died with the session');
    assert.ok(await eventually(() => usersInTree(tree).size === users.length && tree.get(ROOT)!.children.size === count), 'every shard re-created with its users');
    for (const name of tree.get(ROOT)!.children) assert.notEqual(tree.get(`${ROOT}/${name}`)!.ephemeralOwner, oldSession);
  } finally {
    await shards.close();
  }
});

test('route shards - a user moving to a new shard during a split is in at least one node after every write', async () => {
  const { tree, shards } = setup({ maxUsersPerShard: 16 });
  const acked = new Set<string>();
  const missing: string[] = [];
  tree.onWrite = () => {
    const inTree = usersInTree(tree);
    for (const u of acked) if (!inTree.has(u)) missing.push(u);
  };
  try {
    await shards.start();
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    assert.ok(await resolvesWithin(Promise.all(users.map((u, i) => shards.set(u, 1, i).then(() => acked.add(u))))));
    assert.ok(await resolvesWithin(shards.flushed()));
    assert.deepEqual(missing, [], 'no acknowledged user ever missing from ZooKeeper');
    assert.ok(shards.shardCount >= 32, `${shards.shardCount} shards`);
    const inTree = usersInTree(tree);
    assert.equal(inTree.size, users.length);
    assert.deepEqual([...inTree.values()].filter((names) => names.length !== 1), [], 'movers shed from their old shards once the new ones were written');
    for (let i = 0; i < users.length; i += 2) shards.delete(users[i]!);
    await shards.flushed();
    assert.equal(usersInTree(tree).size, users.length / 2);
    assert.equal(shards.size, users.length / 2);
  } finally {
    await shards.close();
  }
});

test('route shards - 8,192 legal 42-character CJK user names never produce a node over 1 MiB', async () => {
  const { tree, shards } = setup();
  try {
    await shards.start();
    const users = cjkNames(8_192);
    assert.ok(users.every((u) => Buffer.byteLength(u) === 126));
    assert.equal(new Set(users).size, users.length);
    // In bursts, as a login storm would send them.
    for (let i = 0; i < users.length; i += 512) assert.ok(await resolvesWithin(Promise.all(users.slice(i, i + 512).map((u, j) => shards.set(u, Date.now(), i + j)))), `burst ${i / 512} acknowledged`);
    assert.ok(await resolvesWithin(shards.flushed()));
    assert.ok(tree.maxWrittenBytes <= SHARD_HARD_LIMIT_BYTES, `largest write ${tree.maxWrittenBytes} bytes`);
    assert.ok(tree.maxWrittenBytes < 1024 * 1024);
    assert.ok(shards.shardCount >= 4, `${shards.shardCount} shards`);
    for (const [k, bound] of shards.shardBytes().entries()) {
      const bytes = tree.get(`${ROOT}/srv#${k}`)!.data.length;
      assert.ok(bytes <= bound, `shard ${k}: ${bytes} bytes, bound ${bound}: the bound is never below the real encoding`);
    }
    const inTree = usersInTree(tree);
    assert.equal(inTree.size, users.length);
  } finally {
    await shards.close();
  }
});

test('route shards - close() releases every waiting set() and deletes the shard nodes', async () => {
  const { tree, shards } = setup();
  await shards.start();
  await shards.set('alice', 1, 1);
  tree.fail({ op: 'set', code: C.ZNOAUTH, times: Infinity });
  const pending = shards.set('bob', 2, 2);
  await shards.close();
  await pending;
  tree.clearFailures();
  assert.equal(tree.get(ROOT)!.children.size, 0);
});

test('route shards - close() before start() releases a waiting set() too', async () => {
  const { shards } = setup();
  const pending = shards.set('early', 1, 1);
  await shards.close();
  assert.ok(await resolvesWithin(pending, 1_000));
});
