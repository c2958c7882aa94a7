import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { pack } from 'msgpackr';
import type ZooKeeper from 'zookeeper';
import { NativeZkClient } from '../../src/zk/zk-client.js';
import { readServers, ZkReadSource } from '../../src/discovery/read-servers.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import type { ServerInfo, Snapshot } from '../../src/discovery/snapshot.js';
import { encodeServerData, type ServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { withCache, type CacheFixture, type CacheFixtureOptions } from '../helpers/cache-fixture.js';
import { eventually } from '../helpers/eventually.js';
import { expireSession } from '../helpers/expire-session.js';
import { firstPort, startProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { rawZk, testZk, withRoot } from '../helpers/zk.js';

const WATCH_EVENTS = ['child', 'changed', 'deleted', 'created'] as const;

function server(i: number, balance = 0): ServerData {
  return { ip: '127.0.0.1', port: 9000 + i, balance };
}

async function put(zk: ZooKeeper, path: string, data: Buffer, flags: number = C.ZOO_EPHEMERAL): Promise<void> {
  await zk.create(path, data, flags);
}

function byName(s: Snapshot): Map<string, Readonly<ServerInfo>> {
  return new Map(s.servers.map((x) => [x.name, x]));
}

function balanceOf(cache: ServerCache, name: string): number | undefined {
  return byName(cache.current()).get(name)?.balance;
}

/** Records the cache's change events as short strings, e.g. "updated a 0->5". */
function recordEvents(cache: ServerCache): string[] {
  const log: string[] = [];
  cache.on('added', (s) => log.push(`added ${s.name}`));
  cache.on('removed', (s) => log.push(`removed ${s.name}`));
  cache.on('updated', (n, p) => log.push(`updated ${n.name} ${p.balance}->${n.balance}`));
  return log;
}

/** withCache with the cache's session going through a fault proxy in front of the test ZooKeeper. */
async function withProxiedCache(opts: CacheFixtureOptions, fn: (f: CacheFixture & { px: FaultProxy }) => Promise<void>): Promise<void> {
  const px = await startProxy(firstPort(await testZk()));
  try {
    await withCache({ ...opts, connect: `127.0.0.1:${px.port}` }, (f) => fn({ ...f, px }));
  } finally {
    await px.close();
  }
}

function listenerCounts(zk: ZooKeeper): Record<string, number> {
  const out: Record<string, number> = {};
  for (const ev of [...WATCH_EVENTS, 'connect', 'connecting', 'close']) out[ev] = zk.listenerCount(ev);
  return out;
}


test('readServers - returns valid servers and skips malformed ones without throwing', () =>
  withRoot('read', async ({ raw, root }) => {
    await put(raw, `${root}/good`, encodeServerData({ ...server(1, 3), id: 'g' }));
    await put(raw, `${root}/garbage`, Buffer.from([0xc1, 0xff, 0x00, 0x13]));
    await put(raw, `${root}/missing-fields`, pack({ ip: '10.0.0.1' }));
    await put(raw, `${root}/negative`, pack({ ip: '10.0.0.2', port: 9002, balance: -1 }));
    await put(raw, `${root}/empty`, Buffer.alloc(0));

    const bad: string[] = [];
    const list = await readServers(NativeZkClient.of(raw), root, { onMalformed: (name, err) => bad.push(`${name}: ${err.name}`) });
    assert.deepEqual(
      list.map((s) => ({ ...s })),
      [{ name: 'good', ip: '127.0.0.1', port: 9001, balance: 3, id: 'g' }],
    );
    assert.deepEqual(bad.sort(), [
      'empty: MalformedServerDataError',
      'garbage: MalformedServerDataError',
      'missing-fields: MalformedServerDataError',
      'negative: MalformedServerDataError',
    ]);

    // The default handler warns once per node and error, however often the root is read.
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => {
      if (w.code === 'FULCRUM_MALFORMED_SERVER_DATA' && w.message.includes(root)) warnings.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      assert.equal((await readServers(NativeZkClient.of(raw), root)).length, 1);
      assert.equal((await readServers(NativeZkClient.of(raw), root)).length, 1);
      await new Promise((r) => setTimeout(r, 20)); // warnings are emitted on nextTick
      assert.equal(warnings.length, 4, warnings.join('\n'));
    } finally {
      process.off('warning', onWarning);
    }
  }));

test('readServers - a missing root is an empty cluster', () =>
  withRoot('missing', async ({ raw }) => {
    assert.deepEqual(await readServers(NativeZkClient.of(raw), '/fulcrum-test/does-not-exist/servers'), []);
  }));

test('read source - every call re-reads and increments the version', () =>
  withCache({ label: 'src' }, async ({ raw, root, session }) => {
    const src = new ZkReadSource(session, root);
    await put(raw, `${root}/a`, encodeServerData(server(1, 1)));
    const s1 = await src.snapshot();
    await put(raw, `${root}/b`, encodeServerData(server(2, 2)));
    const s2 = await src.snapshot();
    assert.equal(s1.version, 1);
    assert.equal(s2.version, 2);
    assert.deepEqual(s1.servers.map((s) => s.name), ['a']);
    assert.deepEqual(s2.servers.map((s) => s.name), ['a', 'b']);
    assert.ok(Object.isFrozen(s2) && Object.isFrozen(s2.servers) && Object.isFrozen(s2.servers[0]));
  }));

test('cache - sees added, updated and removed servers', () =>
  withCache({ label: 'cache', cache: { onMalformed: () => {} } }, async ({ raw, root, cache }) => {
    const owner = await rawZk(); // owns one ephemeral; closing it must remove the server
    try {
      await put(raw, `${root}/a`, encodeServerData(server(1, 0)));
      await put(owner, `${root}/b`, encodeServerData(server(2, 5)));
      const log = recordEvents(cache);
      const snaps: Snapshot[] = [];
      cache.on('snapshot', (s) => snaps.push(s));

      const first = await cache.snapshot();
      assert.equal(first.version, 1);
      assert.deepEqual(first.servers.map((s) => [s.name, s.balance]), [['a', 0], ['b', 5]]);
      assert.equal(cache.current(), first, 'no change, same object');

      await put(raw, `${root}/c`, encodeServerData(server(3, 1)));
      assert.ok(await eventually(() => byName(cache.current()).has('c')), 'c added');
      await raw.set(`${root}/a`, encodeServerData(server(1, 7)), -1);
      assert.ok(await eventually(() => balanceOf(cache, 'a') === 7), 'a updated');
      await raw.delete_(`${root}/c`, -1);
      assert.ok(await eventually(() => !byName(cache.current()).has('c')), 'c removed');
      owner.close();
      assert.ok(await eventually(() => !byName(cache.current()).has('b')), 'b removed with its session');

      // Rewriting identical data bumps the znode version but is not a change.
      const before = cache.current();
      await raw.set(`${root}/a`, encodeServerData(server(1, 7)), -1);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(cache.current(), before);

      assert.deepEqual(log, ['added a', 'added b', 'added c', 'updated a 0->7', 'removed c', 'removed b']);
      assert.ok(await eventually(() => snaps.at(-1) === cache.current()), 'last snapshot event is the current picture');
      for (let i = 1; i < snaps.length; i++) assert.ok(snaps[i]!.version > snaps[i - 1]!.version);
      assert.deepEqual(cache.current().servers.map((s) => s.name), ['a']);
    } finally {
      owner.close();
    }
  }));

test('cache - creates a missing root and loads an empty picture', () =>
  withCache({ label: 'noroot' }, async ({ raw, root, session }) => {
    const missing = `${root}/deeper/servers`;
    const cache = new ServerCache({ session, root: missing });
    try {
      const s = await cache.snapshot();
      assert.deepEqual(s.servers, []);
      assert.equal(s.version, 1);
      await raw.exists(missing, false); // rejects if it was not created
      await put(raw, `${missing}/x`, encodeServerData(server(1)));
      assert.ok(await eventually(() => byName(cache.current()).has('x')));
    } finally {
      cache.close();
    }
  }));

test('cache - rapid updates end with the exact last value and never regress', () =>
  withCache({ label: 'rapid' }, async ({ raw, root, cache }) => {
    await put(raw, `${root}/a`, encodeServerData(server(1, 0)));
    await cache.start();
    // Only recorded here: an assert inside the listener would throw into the cache, not the test.
    const seen: { from: number; to: number }[] = [];
    cache.on('updated', (n, p) => seen.push({ from: p.balance, to: n.balance }));
    const readsBefore = cache.stats.reads;
    // Pipelined: all 200 sets are in flight at once.
    await Promise.all(Array.from({ length: 200 }, (_, i) => raw.set(`${root}/a`, encodeServerData(server(1, i + 1)), -1)));
    assert.ok(await eventually(() => balanceOf(cache, 'a') === 200), `last value, got ${balanceOf(cache, 'a')}`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(balanceOf(cache, 'a'), 200);
    assert.equal(seen.at(-1)?.to, 200);
    assert.deepEqual(seen.filter((u) => u.to <= u.from), [], 'never regresses');
    for (let i = 1; i < seen.length; i++) assert.equal(seen[i]!.from, seen[i - 1]!.to, 'each update starts where the last one ended');
    // Coalescing: one read per notification at most, usually far fewer than 200.
    assert.ok(cache.stats.reads - readsBefore <= cache.stats.watchEvents + 1);
  }));

test('cache - with minReadIntervalMs a burst of changes to one server is read a few times, not once per change, and ends exact', () =>
  withCache({ label: 'held', cache: { minReadIntervalMs: 300 } }, async ({ raw, root, cache }) => {
    await put(raw, `${root}/a`, encodeServerData(server(1, 0)));
    await cache.start();
    const readsBefore = cache.stats.reads;
    await Promise.all(Array.from({ length: 50 }, (_, i) => raw.set(`${root}/a`, encodeServerData(server(1, i + 1)), -1)));
    assert.ok(await eventually(() => balanceOf(cache, 'a') === 50), `last value, got ${balanceOf(cache, 'a')}`);
    // A server appearing is read at once, whatever is held back.
    await put(raw, `${root}/b`, encodeServerData(server(2, 7)));
    assert.ok(await eventually(() => balanceOf(cache, 'b') === 7));
    const reads = cache.stats.reads - readsBefore;
    assert.ok(reads < 10, `${reads} reads for 50 changes and one new server`);
  }));

test('cache - many watch re-arms do not grow listener counts', () =>
  withCache({ label: 'leak', cache: { resyncIntervalMs: 1000 } }, async ({ raw, root, session, cache }) => {
    const zk = session.zk;
    const baseline = listenerCounts(zk);
    await put(raw, `${root}/a`, encodeServerData(server(1, 0)));
    await cache.start();
    const started = listenerCounts(zk);
    for (const ev of WATCH_EVENTS) assert.equal(started[ev], baseline[ev]! + 1, `one '${ev}' listener`);

    for (let i = 1; i <= 300; i++) {
      await raw.set(`${root}/a`, encodeServerData(server(1, i)), -1);
      if (i % 10 === 0) {
        await put(raw, `${root}/churn-${i}`, encodeServerData(server(i)));
        await raw.delete_(`${root}/churn-${i}`, -1);
      }
    }
    assert.ok(await eventually(() => balanceOf(cache, 'a') === 300));
    await new Promise((r) => setTimeout(r, 1200)); // let a periodic resync run too
    assert.ok(cache.stats.resyncs >= 2);
    // Not one event per set: a set that lands while the watch is being re-armed fires none.
    assert.ok(cache.stats.watchEvents >= 100, `watch events ${cache.stats.watchEvents}`);
    assert.deepEqual(listenerCounts(zk), started);
    assert.deepEqual(cache.current().servers.map((s) => s.name), ['a']);

    cache.close();
    assert.deepEqual(listenerCounts(zk), baseline, 'close() removes every listener');
    assert.equal(session.listenerCount('session') + session.listenerCount('reconnected') + session.listenerCount('expired'), 0);
  }));

test('cache - skips a malformed node and shows it once its data becomes valid', async () => {
  const bad: string[] = [];
  await withCache({ label: 'malformed', cache: { onMalformed: (name) => bad.push(name) } }, async ({ raw, root, cache }) => {
    await put(raw, `${root}/good`, encodeServerData(server(1)));
    await put(raw, `${root}/bad`, Buffer.from('not msgpack at all \xc1'));
    const s = await cache.snapshot();
    assert.deepEqual(s.servers.map((x) => x.name), ['good']);
    assert.deepEqual(bad, ['bad']);
    assert.equal(cache.stats.malformed, 1);

    await raw.set(`${root}/bad`, encodeServerData(server(2, 4)), -1);
    assert.ok(await eventually(() => balanceOf(cache, 'bad') === 4), 'valid write makes it appear');

    // Going bad again removes it from the picture, still watched.
    const removed = once(cache, 'removed');
    await raw.set(`${root}/bad`, pack({ ip: '0.0.0.0', port: 1, balance: 0 }), -1);
    assert.equal((await removed)[0].name, 'bad');
    await raw.set(`${root}/bad`, encodeServerData(server(2, 5)), -1);
    assert.ok(await eventually(() => balanceOf(cache, 'bad') === 5));
    assert.deepEqual(bad, ['bad', 'bad']);
  });
});

test('cache - a node re-created under the same name shows its new data', () =>
  withCache({ label: 'recreate' }, async ({ raw, root, cache }) => {
    await put(raw, `${root}/a`, encodeServerData(server(1, 1)));
    await cache.start();
    for (let i = 2; i <= 20; i++) {
      await raw.delete_(`${root}/a`, -1);
      await put(raw, `${root}/a`, encodeServerData(server(1, i)));
    }
    assert.ok(await eventually(() => balanceOf(cache, 'a') === 20), `got ${balanceOf(cache, 'a')}`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(balanceOf(cache, 'a'), 20);
  }));

test('cache - reads lost to connection resets are retried', () =>
  withProxiedCache({ label: 'reset', cache: { resyncIntervalMs: 0 } }, async ({ raw, root, session, cache, px }) => {
    const sessionId = session.sessionId;
    await put(raw, `${root}/a`, encodeServerData(server(1, 0)));
    await cache.start();
    const errors: Error[] = [];
    cache.on('error', (e) => errors.push(e));
    for (let i = 1; i <= 100; i++) {
      void raw.set(`${root}/a`, encodeServerData(server(1, i)), -1);
      if (i % 10 === 0) {
        await put(raw, `${root}/n${i}`, encodeServerData(server(i)));
        await px.cut();
      }
    }
    assert.ok(
      await eventually(() => balanceOf(cache, 'a') === 100 && cache.current().servers.length === 11, 15_000),
      `got ${JSON.stringify(cache.current().servers.map((s) => [s.name, s.balance]))}`,
    );
    assert.equal(session.sessionId, sessionId, 'same session throughout');
    assert.deepEqual(errors, []);
  }));

test('cache - keeps the last snapshot through a partition and catches up afterwards', (t) =>
  withProxiedCache({ label: 'partition' }, async ({ raw, root, session, cache, px }) => {
    const sessionEvents: string[] = [];
    for (const ev of ['disconnected', 'lost', 'reconnected', 'expired', 'session'] as const) session.on(ev, () => sessionEvents.push(ev));
    await put(raw, `${root}/a`, encodeServerData(server(1, 1)), C.ZOO_PERSISTENT);
    await put(raw, `${root}/b`, encodeServerData(server(2, 2)), C.ZOO_PERSISTENT);
    const before = await cache.snapshot();
    assert.equal(before.servers.length, 2);
    const log = recordEvents(cache);

    const disconnected = once(session, 'disconnected');
    const lost = once(session, 'lost');
    await px.blackhole(true);
    // Changes the cache cannot see while cut off.
    await raw.set(`${root}/a`, encodeServerData(server(1, 42)), -1);
    await raw.delete_(`${root}/b`, -1);
    await put(raw, `${root}/c`, encodeServerData(server(3, 3)), C.ZOO_PERSISTENT);

    await disconnected;
    assert.equal(cache.current(), before, 'same picture while disconnected');
    await lost;
    assert.equal(cache.current(), before, 'same picture after the session is presumed lost');
    assert.deepEqual(log, []);

    await px.blackhole(false);
    // Either the session survives (reconnected) or it expired (new session): both must resync.
    assert.ok(
      await eventually(() => {
        const m = byName(cache.current());
        return m.get('a')?.balance === 42 && !m.has('b') && m.has('c');
      }, 20_000),
      `caught up: ${JSON.stringify(cache.current().servers)}`,
    );
    assert.deepEqual([...log].sort(), ['added c', 'removed b', 'updated a 1->42']);

    // Watches are armed again.
    await raw.set(`${root}/c`, encodeServerData(server(3, 9)), -1);
    assert.ok(await eventually(() => balanceOf(cache, 'c') === 9), 'change after heal arrives');
    t.diagnostic(`session events: ${sessionEvents.join(' ')}`);
  }));

test('cache - re-subscribes on the new handle after session expiry', () =>
  withCache({ label: 'expiry' }, async ({ connect, raw, root, session, cache }) => {
    await put(raw, `${root}/a`, encodeServerData(server(1, 1)), C.ZOO_PERSISTENT);
    await put(raw, `${root}/b`, encodeServerData(server(2, 2)), C.ZOO_PERSISTENT);
    await cache.start();
    const old = session.zk;
    const log = recordEvents(cache);
    const oldCounts = listenerCounts(old);
    for (const ev of WATCH_EVENTS) assert.equal(oldCounts[ev], 1);

    const renewed = once(session, 'session');
    assert.equal(await expireSession(old, connect), C.ZSESSIONEXPIRED);
    // Changed between expiry and the new session: only the resync can see these.
    await raw.set(`${root}/a`, encodeServerData(server(1, 10)), -1);
    await raw.delete_(`${root}/b`, -1);
    const [fresh] = (await renewed) as [ZooKeeper];
    assert.notEqual(fresh, old);

    assert.ok(await eventually(() => balanceOf(cache, 'a') === 10 && !byName(cache.current()).has('b')), 'resynced');
    for (const ev of WATCH_EVENTS) {
      assert.equal(old.listenerCount(ev), 0, `old handle '${ev}'`);
      assert.equal(fresh.listenerCount(ev), 1, `new handle '${ev}'`);
    }

    // Later changes arrive through watches on the new handle.
    await put(raw, `${root}/c`, encodeServerData(server(3, 3)), C.ZOO_PERSISTENT);
    await raw.set(`${root}/a`, encodeServerData(server(1, 11)), -1);
    assert.ok(await eventually(() => balanceOf(cache, 'a') === 11 && byName(cache.current()).has('c')), 'later changes');
    assert.deepEqual([...log].sort(), ['added c', 'removed b', 'updated a 1->10', 'updated a 10->11']);
  }));
