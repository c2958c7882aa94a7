import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { Registry } from 'prom-client';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ZkReadSource } from '../../src/discovery/read-servers.js';
import { ServerMetrics } from '../../src/metrics/server-metrics.js';
import { FrameDecoder, isMigrate, type MigrateMessage } from '../../src/protocol/frames.js';
import type { ZkSession } from '../../src/zk/session.js';
import { eventually } from '../helpers/eventually.js';
import { parseExposition } from '../helpers/metrics.js';
import { withServer } from '../helpers/server-fixture.js';
import { ping } from '../helpers/socket.js';
import { useTestSession } from '../helpers/zk.js';

let session: ZkSession;
useTestSession((s) => (session = s));

function only<T>(set: Iterable<T>): T {
  const all = [...set];
  assert.equal(all.length, 1);
  return all[0]!;
}

const leastProvider = (root: string) => new BalanceProvider({ source: new ZkReadSource(session, root), strategy: 'least', root });

test('rebalance - a migrated ClusterClient connects to the new server before the old connection closes', () =>
  withServer({ label: 'mbb' }, async ({ root, server: a, add }) => {
    const client = new ClusterClient({ provider: leastProvider(root) });
    try {
      await client.connect();
      const oldOnA = only(a.connections);
      assert.ok(await eventually(() => a.connectionInfo(oldOnA)?.protocol === true), 'the first ping marks the socket as a fulcrum client');
      const b = await add();
      const seen: string[] = [];
      b.on('connection', () => seen.push('new accepted'));
      oldOnA.once('close', () => seen.push(`old closed while client on ${client.isConnected ? client.server?.name : 'nothing'}`));
      client.on('migrated', (from, to, reason) => seen.push(`migrated ${from.name} -> ${to.name} (${reason})`));
      client.on('disconnected', () => seen.push('disconnected'));

      assert.equal(a.migrate(oldOnA, { reason: 'test' }), 'asked');
      assert.ok(await eventually(() => a.connections.size === 0 && b.connections.size === 1));

      assert.deepEqual(seen, ['new accepted', `migrated ${a.id} -> ${b.id} (test)`, `old closed while client on ${b.id}`]);
      assert.equal(client.server?.name, b.id);
      assert.equal(client.migrations, 1);
      assert.equal(client.reconnects, 0);
      const onB = only(b.connections);
      assert.equal(b.connectionInfo(onB)?.migratedIn, true, 'the new server knows it arrived through a migration');
      assert.equal(await ping(client.socket!, 99), b.id);
    } finally {
      await client.disconnect();
    }
  }));

test('rebalance - a client that does not speak the protocol gets a graceful close; one that pinged gets a migrate frame', () =>
  withServer({ label: 'raw' }, async ({ server: a, open }) => {
    const silent = await open();
    const events: string[] = [];
    silent.on('end', () => events.push('end'));
    silent.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code}`));
    silent.on('data', () => events.push('data'));
    assert.ok(await eventually(() => a.connections.size === 1));
    assert.equal(a.migrate(only(a.connections), { reason: 'test' }), 'closed');
    assert.ok(await eventually(() => events.includes('end')));
    silent.end();
    assert.ok(await eventually(() => a.connections.size === 0));
    assert.deepEqual(events, ['end'], 'a FIN, no bytes, no reset');

    const talking = await open();
    assert.equal(await ping(talking, 1), a.id);
    const frames: MigrateMessage[] = [];
    const dec = new FrameDecoder();
    talking.on('data', (chunk: Buffer) => frames.push(...dec.push(chunk).filter(isMigrate)));
    assert.equal(a.migrate(only(a.connections), { reason: 'test', exclude: ['other:1'] }), 'asked');
    assert.ok(await eventually(() => frames.length === 1));
    assert.deepEqual(frames, [{ type: 'migrate', reason: 'test', exclude: [a.id, 'other:1'] }]);
    assert.equal(a.connections.size, 1, 'the server never closes a fulcrum client itself');
  }));

test('rebalance - a client with nowhere to go stays on its server', () =>
  withServer({ label: 'stay' }, async ({ root, server: a }) => {
    const client = new ClusterClient({ provider: leastProvider(root) });
    try {
      await client.connect();
      const failures: string[] = [];
      client.on('migrateFailed', (e, from) => failures.push(`${from.name}: ${e.name}`));
      const old = only(a.connections);
      assert.ok(await eventually(() => a.connectionInfo(old)?.protocol === true));
      a.migrate(old, { reason: 'test' });
      assert.ok(await eventually(() => failures.length === 1));
      assert.deepEqual(failures, [`${a.id}: NoServersError`]);
      assert.equal(client.isConnected, true);
      assert.equal(client.server?.name, a.id);
      assert.equal(only(a.connections), old);
    } finally {
      await client.disconnect();
    }
  }));

test('rebalance - an overloaded server moves its excess (fulcrum clients first), stays still, and never moves a migrated client again soon', () =>
  withServer({ label: 'loop', server: { rebalance: { intervalMs: 100, minConnectionAgeMs: 0, membershipSettleMs: 300, minExcess: 1 } } }, async ({ root, servers, server: a, add, open }) => {
    const provider = leastProvider(root);
    const clients = Array.from({ length: 20 }, () => new ClusterClient({ provider }));
    const settled = async (want: number[]) => {
      const ok = await eventually(() => servers.every((s, i) => s.connections.size === want[i]), 15_000);
      assert.ok(ok, `want ${want.join('/')}, have ${servers.map((s) => s.connections.size).join('/')}`);
    };
    try {
      for (const c of clients) await c.connect();
      // Four silent sockets: they never ping, so they would only ever get a graceful close.
      const raw: net.Socket[] = [];
      for (let i = 0; i < 4; i++) raw.push(await open());
      const rawEnded: number[] = [];
      raw.forEach((r, i) => r.on('end', () => rawEnded.push(i)));
      await settled([24]);
      const dropped: string[] = [];
      for (const c of clients) c.on('disconnected', (s) => dropped.push(s.name));
      const b = await add();
      await settled([12, 12]);
      // Several more rounds on both servers: nothing else may move.
      const roundsA = a.rebalancing!.stats.rounds;
      const planBefore = a.rebalancing!.lastPlan;
      await new Promise((r) => setTimeout(r, 1_000));
      assert.notEqual(a.rebalancing!.lastPlan, planBefore, 'the loop kept deciding');
      assert.deepEqual(servers.map((s) => s.connections.size), [12, 12]);
      assert.deepEqual(a.stats.rebalance, { asked: 12, closed: 0, moved: 12, stayed: 0, rounds: roundsA });
      assert.equal(b.stats.rebalance?.asked, 0);
      assert.deepEqual(rawEnded, [], 'fulcrum clients were asked first');
      const registry = new Registry();
      const metrics = new ServerMetrics(a, { registry });
      const scraped = parseExposition(await registry.metrics());
      metrics.close();
      assert.equal(scraped.get('fulcrum_server_migrations_asked_total'), 12);
      assert.equal(scraped.get('fulcrum_server_migrations_moved_total'), 12);

      // A third server: the share drops to 8. b holds only migrated clients, within their cooldown.
      await add();
      await settled([8, 12, 4]);
      const askedB = b.stats.rebalance?.asked;
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(servers.map((s) => s.connections.size), [8, 12, 4]);
      assert.equal(askedB, 0, 'migrated clients are not moved again within the cooldown');
      assert.equal(b.stats.rebalance?.asked, 0);
      assert.equal(clients.reduce((n, c) => n + c.migrations, 0), 16);
      assert.deepEqual(dropped, []);
      assert.ok(clients.every((c) => c.isConnected));
    } finally {
      await Promise.all(clients.map((c) => c.disconnect()));
    }
  }));
