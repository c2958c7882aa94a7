import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { register as globalRegistry, Registry } from 'prom-client';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { ServerMetrics, serveMetrics } from '../../src/metrics/index.js';
import { closeSocket, openSocket } from '../helpers/socket.js';
import { eventually } from '../helpers/eventually.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { httpGet, parseExposition, scrape } from '../helpers/metrics.js';
import type ZooKeeper from 'zookeeper';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const REQUIRED = [
  'fulcrum_server_connections',
  'fulcrum_server_accepted_total',
  'fulcrum_server_refused_total',
  'fulcrum_server_protocol_errors_total',
  'fulcrum_zk_writes_total',
  'fulcrum_zk_write_seconds_count',
  'fulcrum_zk_connected',
  'fulcrum_zk_session_replacements_total',
];

test('server metrics - connections, accepted, refused and protocol errors follow real sockets', async () => {
  const { root, cleanup } = await freshRoot(zk, 'metrics');
  const server = new ClusterServer({ zk: connect, root, maxConnections: 3 });
  const metrics = new ServerMetrics(server);
  const endpoint = await serveMetrics(metrics.registry);
  const socks: net.Socket[] = [];
  try {
    const { port } = await server.listen();
    const first = await scrape(endpoint.url);
    for (const name of REQUIRED) assert.ok(first.has(name), `${name} is exposed`);
    assert.equal(first.get('fulcrum_server_connections'), 0);
    assert.equal(first.get('fulcrum_zk_connected'), 1);
    assert.ok(first.has('process_cpu_user_seconds_total'), 'a private registry gets the process metrics');

    for (let i = 0; i < 3; i++) socks.push(await openSocket(port));
    assert.ok(await eventually(async () => (await scrape(endpoint.url)).get('fulcrum_server_connections') === 3), 'gauge rises to 3');
    await server.flushed();
    // Over maxConnections: refused, never counted.
    const extra = await openSocket(port);
    await new Promise((r) => extra.once('close', r).resume());
    // An oversize frame closes that socket as a protocol error.
    await closeSocket(socks.pop()!);
    const bad = await openSocket(port);
    bad.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0]));
    await new Promise((r) => bad.once('close', r).resume());

    assert.ok(
      await eventually(async () => {
        const m = await scrape(endpoint.url);
        return m.get('fulcrum_server_connections') === 2 && m.get('fulcrum_server_refused_total') === 1 && m.get('fulcrum_server_protocol_errors_total') === 1;
      }),
      'refused and protocol error counted, gauge back to 2',
    );
    await server.flushed();
    const m = await scrape(endpoint.url);
    assert.equal(m.get('fulcrum_server_accepted_total'), 4, '3 plus the bad one');
    assert.equal(m.get('fulcrum_server_counted_balance'), 2);
    assert.ok(m.get('fulcrum_zk_writes_total')! >= 1, 'balance writes counted');
    assert.equal(m.get('fulcrum_zk_write_seconds_count'), m.get('fulcrum_zk_writes_total'), 'every successful write is timed');
    assert.ok(m.get('fulcrum_zk_write_seconds_sum')! > 0);
    assert.equal(m.get('fulcrum_zk_session_replacements_total'), 0);
    assert.equal(m.get('fulcrum_server_registered'), 1);

    await Promise.all(socks.splice(0).map(closeSocket));
    assert.ok(await eventually(async () => (await scrape(endpoint.url)).get('fulcrum_server_connections') === 0), 'gauge drops to 0');
    assert.equal((await globalRegistry.getSingleMetric('fulcrum_server_connections')) ?? null, null, 'nothing in the global registry');
  } finally {
    await Promise.all(socks.map(closeSocket));
    await endpoint.close();
    metrics.close();
    await server.close();
    await cleanup();
  }
});

test('server metrics - a given registry gets the metrics and no process metrics; two servers need two registries', async () => {
  const { root, cleanup } = await freshRoot(zk, 'metrics');
  const server = new ClusterServer({ zk: connect, root });
  const registry = new Registry();
  const metrics = new ServerMetrics(server, { registry });
  try {
    await server.listen();
    const m = parseExposition(await registry.metrics());
    assert.equal(m.get('fulcrum_server_connections'), 0);
    assert.equal(m.has('process_cpu_user_seconds_total'), false);
    assert.throws(() => new ServerMetrics(server, { registry }), /already been registered/);
    metrics.close();
    assert.equal(parseExposition(await registry.metrics()).size, 0, 'close() empties the registry');
  } finally {
    metrics.close();
    await server.close();
    await cleanup();
  }
});

test('server metrics - the endpoint answers other paths 404 and other methods 405 in JSON', async () => {
  const registry = new Registry();
  const endpoint = await serveMetrics(registry);
  try {
    const origin = endpoint.url.replace(/\/metrics$/, '');
    const notFound = await httpGet(`${origin}/nope`);
    assert.equal(notFound.status, 404);
    assert.equal((JSON.parse(notFound.body) as { error: { code: string } }).error.code, 'FULCRUM_METRICS_NOT_FOUND');
    const post = await httpGet(endpoint.url, 'POST');
    assert.equal(post.status, 405);
    assert.equal((JSON.parse(post.body) as { error: { code: string } }).error.code, 'FULCRUM_METRICS_METHOD');
    const ok = await httpGet(`${endpoint.url}?x=1`);
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain/);
  } finally {
    await endpoint.close();
  }
});

test('server metrics - a busy port is a ListenError naming the port', async () => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    await assert.rejects(serveMetrics(new Registry(), { port }), (e: Error & { code?: string }) => e.code === 'FULCRUM_LISTEN' && e.message.includes(String(port)));
  } finally {
    blocker.close();
  }
});
