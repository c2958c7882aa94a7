import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { ClusterServer, ListenError } from '../../src/server/cluster-server.js';
import { encodeServerData } from '../../src/server-data.js';
import { encodeFrame, FrameDecoder, isPong } from '../../src/protocol/frames.js';
import { eventually, freshRoot, useTestZk } from '../helpers/zk.js';
import { balancesExact, closeAll, closeSocket, openSocket, startServers, zkBalances } from '../helpers/cluster.js';
import { plainDecode } from '../helpers/plain-msgpack.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('server - a node read with an independent msgpack decoder shows ip, port and the exact balance', async () => {
  const { root, cleanup } = await freshRoot(zk, 'plain');
  const [s] = await startServers(1, { zk: connect, root });
  const socks: net.Socket[] = [];
  try {
    for (let i = 0; i < 7; i++) socks.push(await openSocket(s!.endpoint!.port));
    assert.ok(await balancesExact(zk, root, [s!]));
    const [, data] = await zk.get(`${root}/${s!.id}`, false);
    const m = plainDecode(data as Buffer) as Record<string, unknown>;
    assert.equal(m.ip, '127.0.0.1');
    assert.equal(m.port, s!.endpoint!.port);
    assert.equal(m.balance, 7);
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - registers one ephemeral node holding ip, port and balance', async () => {
  const { root, cleanup } = await freshRoot(zk, 'reg');
  const [s] = await startServers(1, { zk: connect, root });
  try {
    const names: string[] = await zk.get_children(root, false);
    assert.deepEqual(names, [s!.id]);
    const [stat, data] = await zk.get(`${root}/${s!.id}`, false);
    assert.notEqual(String(stat.ephemeralOwner), '0', 'node must be ephemeral');
    const nodes = await zkBalances(zk, root);
    const d = nodes.get(s!.id)!;
    assert.equal(d.ip, '127.0.0.1');
    assert.equal(d.port, s!.endpoint!.port);
    assert.equal(d.balance, 0);
    assert.ok(Buffer.isBuffer(data));
  } finally {
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - ZooKeeper balance equals live sockets after connects and disconnects', async () => {
  const { root, cleanup } = await freshRoot(zk, 'exact');
  const [s] = await startServers(1, { zk: connect, root });
  const socks: net.Socket[] = [];
  try {
    for (let i = 0; i < 50; i++) socks.push(await openSocket(s!.endpoint!.port));
    assert.ok(await eventually(() => s!.connections.size === 50));
    assert.ok(await balancesExact(zk, root, [s!]), 'balance reaches 50');
    await Promise.all(socks.splice(0, 20).map(closeSocket));
    assert.ok(await eventually(() => s!.connections.size === 30));
    assert.ok(await balancesExact(zk, root, [s!]), 'balance back to 30');
    assert.equal((await zkBalances(zk, root)).get(s!.id)!.balance, 30);
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - batches writes under a burst and ends exact', async () => {
  const { root, cleanup } = await freshRoot(zk, 'burst');
  const [s] = await startServers(1, { zk: connect, root });
  const socks: net.Socket[] = [];
  try {
    const opened = await Promise.all(Array.from({ length: 500 }, () => openSocket(s!.endpoint!.port)));
    socks.push(...opened);
    assert.ok(await eventually(() => s!.connections.size === 500));
    await Promise.all(socks.splice(0, 250).map(closeSocket));
    assert.ok(await eventually(() => s!.connections.size === 250));
    assert.ok(await balancesExact(zk, root, [s!]));
    const st = s!.stats;
    assert.equal(st.events, 750);
    assert.ok(st.writes < st.events / 5, `writes ${st.writes} should be far fewer than events ${st.events}`);
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - adaptive publishing folds small changes into fewer writes and ends exact', async () => {
  const { root, cleanup } = await freshRoot(zk, 'adaptive');
  const [s] = await startServers(1, { zk: connect, root }); // adaptive publishing is the default
  const socks: net.Socket[] = [];
  try {
    socks.push(...(await Promise.all(Array.from({ length: 200 }, () => openSocket(s!.endpoint!.port)))));
    assert.ok(await eventually(() => s!.connections.size === 200));
    await s!.flushed();
    const before = s!.stats.writes;
    // One at a time: each a 0.5 % change, which the policy holds back and folds into one write.
    for (let i = 0; i < 10; i++) {
      socks.push(await openSocket(s!.endpoint!.port));
      assert.ok(await eventually(() => s!.connections.size === 201 + i));
    }
    await s!.flushed();
    assert.ok(await balancesExact(zk, root, [s!]));
    const used = s!.stats.writes - before;
    assert.ok(used >= 1 && used < 10, `10 small changes took ${used} writes`);
    await Promise.all(socks.splice(0).map(closeSocket));
    assert.ok(await eventually(() => s!.connections.size === 0));
    await s!.flushed();
    assert.ok(await balancesExact(zk, root, [s!]), 'back to 0 in ZooKeeper');
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - a foreign write (BADVERSION) is re-read and the live count wins', async () => {
  const { root, cleanup } = await freshRoot(zk, 'badver');
  const [s] = await startServers(1, { zk: connect, root });
  const socks: net.Socket[] = [];
  try {
    const path = `${root}/${s!.id}`;
    // Someone else bumps the version behind the server's back.
    await zk.set(path, encodeServerData({ ip: '127.0.0.1', port: s!.endpoint!.port, balance: 999 }), -1);
    for (let i = 0; i < 5; i++) socks.push(await openSocket(s!.endpoint!.port));
    assert.ok(await balancesExact(zk, root, [s!]));
    assert.ok(s!.stats.badVersion >= 1, 'the stale version was detected');
    assert.equal((await zkBalances(zk, root)).get(s!.id)!.balance, 5);
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - removes its node before closing client sockets', async () => {
  const { root, cleanup } = await freshRoot(zk, 'order');
  const [s] = await startServers(1, { zk: connect, root });
  try {
    const sock = await openSocket(s!.endpoint!.port);
    const path = `${root}/${s!.id}`;
    const nodeAtClose = new Promise<boolean>((resolve) => {
      sock.once('end', () => {
        zk.exists(path, false).then(
          () => resolve(true),
          () => resolve(false),
        );
      });
    });
    await s!.close();
    assert.equal(await nodeAtClose, false, 'node was already gone when the socket closed');
    sock.destroy();
  } finally {
    await cleanup();
  }
});

test('server - maxConnections refuses extras cleanly and the balance never passes the cap', async () => {
  const { root, cleanup } = await freshRoot(zk, 'cap');
  const [s] = await startServers(1, { zk: connect, root, maxConnections: 3 });
  const socks: net.Socket[] = [];
  let peak = 0;
  const timer = setInterval(() => void zkBalances(zk, root).then((m) => (peak = Math.max(peak, m.get(s!.id)?.balance ?? 0)), () => {}), 5);
  try {
    for (let i = 0; i < 6; i++) socks.push(await openSocket(s!.endpoint!.port));
    assert.ok(await eventually(() => s!.stats.refused === 3));
    assert.equal(s!.connections.size, 3);
    assert.ok(await balancesExact(zk, root, [s!]));
    clearInterval(timer);
    assert.ok(peak <= 3, `peak ${peak}`);
    assert.equal((await zkBalances(zk, root)).get(s!.id)!.maxConnections, 3);
  } finally {
    clearInterval(timer);
    await Promise.all(socks.map(closeSocket));
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - answers ping with its id; bad frames close only that socket', async () => {
  const { root, cleanup } = await freshRoot(zk, 'proto');
  const [s] = await startServers(1, { zk: connect, root });
  const good = await openSocket(s!.endpoint!.port);
  try {
    const bad = await openSocket(s!.endpoint!.port);
    const badClosed = new Promise((r) => bad.once('close', r));
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(10 * 1024 * 1024);
    bad.write(hdr);
    await badClosed;
    const garbage = await openSocket(s!.endpoint!.port);
    const garbageClosed = new Promise((r) => garbage.once('close', r));
    garbage.write(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]));
    await garbageClosed;
    const dec = new FrameDecoder();
    const pong = new Promise<unknown>((resolve) => good.on('data', (b: Buffer) => dec.push(b).forEach((m) => isPong(m) && resolve(m))));
    good.write(encodeFrame({ type: 'ping', seq: 7 }));
    assert.deepEqual(await pong, { type: 'pong', seq: 7, id: s!.id });
    assert.ok(await eventually(() => s!.connections.size === 1));
    assert.ok(await balancesExact(zk, root, [s!]));
    assert.ok(s!.stats.protocolErrors >= 1);
  } finally {
    await closeSocket(good);
    await closeAll([s!]);
    await cleanup();
  }
});

test('server - a port in use fails with ListenError and registers nothing', async () => {
  const { root, cleanup } = await freshRoot(zk, 'inuse');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const s = new ClusterServer({ zk: connect, root, port });
    await assert.rejects(s.listen(), (e: unknown) => e instanceof ListenError && /port in use/.test(e.message));
    assert.deepEqual(await zk.get_children(root, false), []);
  } finally {
    blocker.close();
    await cleanup();
  }
});
