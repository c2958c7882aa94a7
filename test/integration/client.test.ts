import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ZkReadSource } from '../../src/discovery/read-servers.js';
import { NoServersError } from '../../src/errors.js';
import { C } from '../../src/zk/codes.js';
import { ZkSession } from '../../src/zk/session.js';
import { closeAll, startServers, balancesExact } from '../helpers/server-fixture.js';
import { freshRoot, useTestSession, useTestZk } from '../helpers/zk.js';
import { closeSocket, openSocket } from '../helpers/socket.js';

let zk: ZooKeeper;
let connect: string;
let session: ZkSession;
useTestZk((z, c) => ((zk = z), (connect = c)));
useTestSession((s) => (session = s));

test('client - reads all nodes, picks the least-loaded server and proves it with a pong', async () => {
  const { root, cleanup } = await freshRoot(zk, 'least');
  const servers = await startServers(3, { zk: connect, root });
  const socks: net.Socket[] = [];
  try {
    // Load servers 0 and 1; server 2 stays empty and must be chosen.
    for (const [i, n] of [[0, 3], [1, 2]] as const) for (let k = 0; k < n; k++) socks.push(await openSocket(servers[i]!.endpoint!.port));
    assert.ok(await balancesExact(zk, root, servers));
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), strategy: 'least', root });
    const client = new ClusterClient({ provider, reconnect: false });
    const pongFrom = new Promise<string | undefined>((r) => client.once('connected', (_s, id) => r(id)));
    await client.connect();
    assert.equal(client.server!.port, servers[2]!.endpoint!.port);
    assert.equal(await pongFrom, servers[2]!.id);
    await client.disconnect();
    assert.equal(client.isConnected, false);
  } finally {
    await Promise.all(socks.map(closeSocket));
    await closeAll(servers);
    await cleanup();
  }
});

test('client - skips malformed nodes with a warning and still connects', async () => {
  const { root, cleanup } = await freshRoot(zk, 'malformed');
  const [s] = await startServers(1, { zk: connect, root });
  const warnings: string[] = [];
  try {
    await zk.create(`${root}/garbage`, Buffer.from('not msgpack at all \xff'), C.ZOO_PERSISTENT);
    await zk.create(`${root}/empty`, Buffer.alloc(0), C.ZOO_PERSISTENT);
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root, { onMalformed: (name) => warnings.push(name) }), strategy: 'least', root });
    const client = new ClusterClient({ provider, reconnect: false });
    await client.connect();
    assert.equal(client.server!.name, s!.id);
    assert.deepEqual(warnings.sort(), ['empty', 'garbage']);
    await client.disconnect();
  } finally {
    await closeAll([s!]);
    await cleanup();
  }
});

test('client - no servers is a clear NoServersError, not a hang', async () => {
  const { root, cleanup } = await freshRoot(zk, 'none');
  try {
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), root });
    const client = new ClusterClient({ provider, reconnect: false });
    const t0 = Date.now();
    await assert.rejects(client.connect(), (e: unknown) => e instanceof NoServersError && e.code === 'FULCRUM_NO_SERVERS');
    assert.ok(Date.now() - t0 < 2_000);
  } finally {
    await cleanup();
  }
});

test('client - a server that refuses (full) is skipped for another', async () => {
  const { root, cleanup } = await freshRoot(zk, 'full');
  const [full] = await startServers(1, { zk: connect, root, maxConnections: 0 });
  const [open] = await startServers(1, { zk: connect, root });
  try {
    // `random` would pick the full server half the time; the client must recover each time.
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), strategy: 'random', root });
    for (let i = 0; i < 6; i++) {
      const client = new ClusterClient({ provider, reconnect: false });
      await client.connect();
      assert.equal(client.server!.name, open!.id);
      await client.disconnect();
    }
    assert.equal(full!.connections.size, 0);
  } finally {
    await closeAll([full!, open!]);
    await cleanup();
  }
});
