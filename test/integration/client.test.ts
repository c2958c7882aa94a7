import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ZkReadSource } from '../../src/discovery/read-servers.js';
import { NoServersError } from '../../src/errors.js';
import { C } from '../../src/zk/codes.js';
import type { ZkSession } from '../../src/zk/session.js';
import { balancesExact, withServer } from '../helpers/server-fixture.js';
import { useTestSession } from '../helpers/zk.js';

let session: ZkSession;
useTestSession((s) => (session = s));

test('client - reads all nodes, picks the least-loaded server and proves it with a pong', () =>
  withServer({ label: 'least', count: 3 }, async ({ zk, root, servers, open }) => {
    // Load servers 0 and 1; server 2 stays empty and must be chosen.
    for (const [i, n] of [[0, 3], [1, 2]] as const) for (let k = 0; k < n; k++) await open(i);
    assert.ok(await balancesExact(zk, root, servers));
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), strategy: 'least', root });
    const client = new ClusterClient({ provider, reconnect: false });
    const pongFrom = new Promise<string | undefined>((r) => client.once('connected', (_s, id) => r(id)));
    await client.connect();
    assert.equal(client.server!.port, servers[2]!.endpoint!.port);
    assert.equal(await pongFrom, servers[2]!.id);
    await client.disconnect();
    assert.equal(client.isConnected, false);
  }));

test('client - skips malformed nodes with a warning and still connects', () =>
  withServer({ label: 'malformed' }, async ({ zk, root, server: s }) => {
    const warnings: string[] = [];
    await zk.create(`${root}/garbage`, Buffer.from('not msgpack at all \xff'), C.ZOO_PERSISTENT);
    await zk.create(`${root}/empty`, Buffer.alloc(0), C.ZOO_PERSISTENT);
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root, { onMalformed: (name) => warnings.push(name) }), strategy: 'least', root });
    const client = new ClusterClient({ provider, reconnect: false });
    await client.connect();
    assert.equal(client.server!.name, s.id);
    assert.deepEqual(warnings.sort(), ['empty', 'garbage']);
    await client.disconnect();
  }));

test('client - no servers is a clear NoServersError, not a hang', () =>
  withServer({ label: 'none', count: 0 }, async ({ root }) => {
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), root });
    const client = new ClusterClient({ provider, reconnect: false });
    const t0 = Date.now();
    await assert.rejects(client.connect(), (e: unknown) => e instanceof NoServersError && e.code === 'FULCRUM_NO_SERVERS');
    assert.ok(Date.now() - t0 < 2_000);
  }));

test('client - a server that refuses (full) is skipped for another', () =>
  withServer({ label: 'full', server: { maxConnections: 0 } }, async ({ root, server: full, add }) => {
    const open = await add({ maxConnections: undefined });
    // `random` would pick the full server half the time; the client must recover each time.
    const provider = new BalanceProvider({ source: new ZkReadSource(session, root), strategy: 'random', root });
    for (let i = 0; i < 6; i++) {
      const client = new ClusterClient({ provider, reconnect: false });
      await client.connect();
      assert.equal(client.server!.name, open.id);
      await client.disconnect();
    }
    assert.equal(full.connections.size, 0);
  }));
