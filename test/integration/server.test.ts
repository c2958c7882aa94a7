import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ClusterServer, ListenError } from '../../src/server/cluster-server.js';
import { encodeServerData } from '../../src/server-data.js';
import { eventually } from '../helpers/eventually.js';
import { nodeData } from '../helpers/nodes.js';
import { plainDecode } from '../helpers/plain-msgpack.js';
import { balancesExact, withServer } from '../helpers/server-fixture.js';
import { closeSocket, pong } from '../helpers/socket.js';
import { withRoot } from '../helpers/zk.js';

test('server - a node read with an independent msgpack decoder shows ip, port and the exact balance', () =>
  withServer({ label: 'plain' }, async ({ zk, root, server: s, open }) => {
    for (let i = 0; i < 7; i++) await open();
    assert.ok(await balancesExact(zk, root, [s]));
    const [, data] = await zk.get(`${root}/${s.id}`, false);
    const m = plainDecode(data as Buffer) as Record<string, unknown>;
    assert.equal(m.ip, '127.0.0.1');
    assert.equal(m.port, s.endpoint!.port);
    assert.equal(m.balance, 7);
  }));

test('server - registers one ephemeral node holding ip, port and balance', () =>
  withServer({ label: 'reg' }, async ({ zk, root, server: s }) => {
    const names: string[] = await zk.get_children(root, false);
    assert.deepEqual(names, [s.id]);
    const [stat, data] = await zk.get(`${root}/${s.id}`, false);
    assert.notEqual(String(stat.ephemeralOwner), '0', 'node must be ephemeral');
    const nodes = await nodeData(zk, root);
    const d = nodes.get(s.id)!;
    assert.equal(d.ip, '127.0.0.1');
    assert.equal(d.port, s.endpoint!.port);
    assert.equal(d.balance, 0);
    assert.ok(Buffer.isBuffer(data));
  }));

test('server - ZooKeeper balance equals live sockets after connects and disconnects', () =>
  withServer({ label: 'exact' }, async ({ zk, root, server: s, open, sockets }) => {
    for (let i = 0; i < 50; i++) await open();
    assert.ok(await eventually(() => s.connections.size === 50));
    assert.ok(await balancesExact(zk, root, [s]), 'balance reaches 50');
    await Promise.all(sockets.splice(0, 20).map(closeSocket));
    assert.ok(await eventually(() => s.connections.size === 30));
    assert.ok(await balancesExact(zk, root, [s]), 'balance back to 30');
    assert.equal((await nodeData(zk, root)).get(s.id)!.balance, 30);
  }));

test('server - batches writes under a burst and ends exact', () =>
  withServer({ label: 'burst' }, async ({ zk, root, server: s, open, sockets }) => {
    await Promise.all(Array.from({ length: 500 }, () => open()));
    assert.ok(await eventually(() => s.connections.size === 500));
    await Promise.all(sockets.splice(0, 250).map(closeSocket));
    assert.ok(await eventually(() => s.connections.size === 250));
    assert.ok(await balancesExact(zk, root, [s]));
    const st = s.stats;
    assert.equal(st.events, 750);
    assert.ok(st.writes < st.events / 5, `writes ${st.writes} should be far fewer than events ${st.events}`);
  }));

test('server - a foreign write (BADVERSION) is re-read and the live count wins', () =>
  withServer({ label: 'badver' }, async ({ zk, root, server: s, open }) => {
    const path = `${root}/${s.id}`;
    // Someone else bumps the version behind the server's back.
    await zk.set(path, encodeServerData({ ip: '127.0.0.1', port: s.endpoint!.port, balance: 999 }), -1);
    for (let i = 0; i < 5; i++) await open();
    assert.ok(await balancesExact(zk, root, [s]));
    assert.ok(s.stats.badVersion >= 1, 'the stale version was detected');
    assert.equal((await nodeData(zk, root)).get(s.id)!.balance, 5);
  }));

test('server - removes its node before closing client sockets', () =>
  withServer({ label: 'order' }, async ({ zk, root, server: s, open }) => {
    const sock = await open();
    const path = `${root}/${s.id}`;
    const nodeAtClose = new Promise<boolean>((resolve) => {
      sock.once('end', () => {
        zk.exists(path, false).then(
          () => resolve(true),
          () => resolve(false),
        );
      });
    });
    await s.close();
    assert.equal(await nodeAtClose, false, 'node was already gone when the socket closed');
  }));

test('server - maxConnections refuses extras cleanly and the balance never passes the cap', () =>
  withServer({ label: 'cap', server: { maxConnections: 3 } }, async ({ zk, root, server: s, open }) => {
    let peak = 0;
    const timer = setInterval(() => void nodeData(zk, root).then((m) => (peak = Math.max(peak, m.get(s.id)?.balance ?? 0)), () => {}), 5);
    try {
      for (let i = 0; i < 6; i++) await open();
      assert.ok(await eventually(() => s.stats.refused === 3));
      assert.equal(s.connections.size, 3);
      assert.ok(await balancesExact(zk, root, [s]));
      clearInterval(timer);
      assert.ok(peak <= 3, `peak ${peak}`);
      assert.equal((await nodeData(zk, root)).get(s.id)!.maxConnections, 3);
    } finally {
      clearInterval(timer);
    }
  }));

test('server - answers ping with its id; bad frames close only that socket', () =>
  withServer({ label: 'proto' }, async ({ zk, root, server: s, open }) => {
    const good = await open();
    const bad = await open();
    const badClosed = new Promise((r) => bad.once('close', r));
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(10 * 1024 * 1024);
    bad.write(hdr);
    await badClosed;
    const garbage = await open();
    const garbageClosed = new Promise((r) => garbage.once('close', r));
    garbage.write(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]));
    await garbageClosed;
    assert.deepEqual(await pong(good, 7), { type: 'pong', seq: 7, id: s.id });
    assert.ok(await eventually(() => s.connections.size === 1));
    assert.ok(await balancesExact(zk, root, [s]));
    assert.ok(s.stats.protocolErrors >= 1);
  }));

test('server - a port in use fails with ListenError and registers nothing', () =>
  withRoot('inuse', async ({ connect, raw, root }) => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const s = new ClusterServer({ zk: connect, root, port });
      await assert.rejects(s.listen(), (e: unknown) => e instanceof ListenError && /port in use/.test(e.message));
      assert.deepEqual(await raw.get_children(root, false), []);
    } finally {
      blocker.close();
    }
  }));

test('server - adaptive publishing folds small changes into fewer writes and ends exact', () =>
  withServer({ label: 'adaptive' }, async ({ zk, root, server: s, open, sockets }) => {
    // Adaptive publishing is the default.
    await Promise.all(Array.from({ length: 200 }, () => open()));
    assert.ok(await eventually(() => s.connections.size === 200));
    await s.flushed();
    const before = s.stats.writes;
    // One at a time: each a 0.5 % change, which the policy holds back and folds into one write.
    for (let i = 0; i < 10; i++) {
      await open();
      assert.ok(await eventually(() => s.connections.size === 201 + i));
    }
    await s.flushed();
    assert.ok(await balancesExact(zk, root, [s]));
    const used = s.stats.writes - before;
    assert.ok(used >= 1 && used < 10, `10 small changes took ${used} writes`);
    await Promise.all(sockets.map(closeSocket));
    assert.ok(await eventually(() => s.connections.size === 0));
    await s.flushed();
    assert.ok(await balancesExact(zk, root, [s]), 'back to 0 in ZooKeeper');
  }));

test('server - with rebalancing on, entering or leaving the lowest group is published at once', () =>
  withServer({ label: 'lowest', server: { publishPolicy: { maxDelayMs: 8_000 } } }, async ({ zk, root, server: b, add, open, sockets }) => {
    // A long window (8 s): a small change that does not cross the band would wait seconds.
    const a = await add({ rebalance: true });
    await Promise.all(Array.from({ length: 99 }, () => open(b)));
    await Promise.all(Array.from({ length: 102 }, () => open(a)));
    assert.ok(await eventually(() => a.connections.size === 102 && b.connections.size === 99));
    await Promise.all([a.flushed(), b.flushed()]);
    const published = async (s: ClusterServer) => (await nodeData(zk, root)).get(s.id)?.balance;
    const cacheSees = () => a.rebalancing!.cache.current().servers.find((s) => s.name === b.id)?.balance === 99;
    assert.ok(await eventually(cacheSees, 10_000), "A's cache shows B at 99");
    assert.equal(await published(a), 102);
    // 102 → 100: a 2 % change, but it enters the lowest group (others' minimum 99, band 1).
    const mine = sockets.slice(99);
    await Promise.all(mine.splice(0, 2).map(closeSocket));
    assert.ok(await eventually(async () => (await published(a)) === 100, 2_000), 'entering the group is written within 2 s, not after the window');
    // 100 → 101 leaves it again.
    await open(a);
    assert.ok(await eventually(async () => (await published(a)) === 101, 2_000), 'leaving the group is written within 2 s');
  }));
