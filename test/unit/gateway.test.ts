import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { GatewayUnavailableError } from '../../src/errors.js';
import { GatewayDirectory } from '../../src/messaging/gateway/gateway-directory.js';
import { GatewayPool, GATEWAY_RETRY_AFTER_MS } from '../../src/messaging/gateway/gateway-pool.js';
import { GatewayServer } from '../../src/messaging/gateway/gateway-server.js';
import { encodeServerData } from '../../src/server-data.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { C } from '../../src/zk/codes.js';
import { captureLogger } from '../helpers/log-capture.js';
import { MemoryZk } from '../helpers/memory-zk.js';
import { eventually } from '../helpers/eventually.js';

const ROOT = '/fulcrum/servers';
const node = (port: number, gatewayPort?: number, balance = 0) => encodeServerData({ ip: '127.0.0.1', port, balance, ...(gatewayPort !== undefined ? { gatewayIp: '127.0.0.1', gatewayPort } : {}) });

test('gateway directory - servers and their gateways from the servers root, removals told, balance writes cost no read, refresh rate-limited', async () => {
  const tree = new MemoryZk();
  const admin = tree.client();
  await admin.create('/fulcrum', Buffer.alloc(0));
  await admin.create(ROOT, Buffer.alloc(0));
  await admin.create(`${ROOT}/a`, node(7001, 8001), C.ZOO_EPHEMERAL);
  await admin.create(`${ROOT}/plain`, node(7002), C.ZOO_EPHEMERAL);
  const removed: string[] = [];
  const { logger, lines } = captureLogger();
  const dir = new GatewayDirectory({ session: tree.session(), root: ROOT, onRemoved: (n) => removed.push(n), logger });
  try {
    await dir.start();
    assert.deepEqual(dir.names().sort(), ['a', 'plain']);
    assert.deepEqual(dir.get('a'), { ip: '127.0.0.1', port: 8001 });
    assert.equal(dir.get('plain'), undefined, 'registered, without a gateway');
    assert.equal(dir.has('plain'), true);

    const readsOfA = () => tree.count('get', `${ROOT}/a`);
    const before = readsOfA();
    for (let b = 1; b <= 20; b++) await admin.set(`${ROOT}/a`, node(7001, 8001, b), -1);
    // Barrier: a new server shows up through the child watch after those writes.
    await admin.create(`${ROOT}/b`, node(7003, 8003), C.ZOO_EPHEMERAL);
    assert.ok(await eventually(() => dir.get('b') !== undefined));
    assert.equal(readsOfA(), before, 'balance writes were not read');

    // The gateway moved (as after a restart under the same name that the child list never showed):
    // refresh(), called when the old gateway fails, reads the node, once per second at most.
    await admin.set(`${ROOT}/a`, node(7001, 9002), -1);
    const reads = readsOfA();
    dir.refresh('a');
    dir.refresh('a');
    dir.refresh('a');
    assert.ok(await eventually(() => dir.get('a')?.port === 9002));
    assert.equal(readsOfA(), reads + 1, 'three refreshes within a second: one read');

    await admin.delete(`${ROOT}/b`, -1);
    assert.ok(await eventually(() => removed.includes('b') && !dir.has('b')));
    assert.deepEqual(lines, [], 'nothing failed');
  } finally {
    dir.close();
  }
});

test('gateway pool - a failed connect fails the next requests at once for a backoff window, then connects again', async () => {
  let accepted = 0;
  const refusing = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  refusing.listen(0, '127.0.0.1');
  await once(refusing, 'listening');
  const port = (refusing.address() as net.AddressInfo).port;
  /** Barrier: a probe connection accepted after everything the pool may have opened before it. */
  const probe = async () => {
    const seen = once(refusing, 'connection');
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await seen;
    accepted--;
  };
  const pool = new GatewayPool({ connectTimeoutMs: 2_000 });
  const body = { type: 'publish', id: 1, body: 'x' } as const;
  try {
    await assert.rejects(pool.request('s1', '127.0.0.1', port, body, 1_000), GatewayUnavailableError);
    assert.equal(accepted, 1);
    const t0 = performance.now();
    await assert.rejects(pool.request('s1', '127.0.0.1', port, body, 1_000), GatewayUnavailableError);
    const fast = performance.now() - t0 < GATEWAY_RETRY_AFTER_MS;
    await probe();
    if (fast) assert.equal(accepted, 1, 'inside the window: refused without connecting');
    await new Promise((r) => setTimeout(r, GATEWAY_RETRY_AFTER_MS * 2)); // past the first window (50 ms exactly)
    await assert.rejects(pool.request('s1', '127.0.0.1', port, body, 1_000), GatewayUnavailableError);
    await probe();
    assert.equal(accepted, 2, 'after the window it connects again');
  } finally {
    pool.close();
    refusing.close();
  }
});

test('gateway auth - both ways: a peer with the secret refuses a gateway that cannot prove it, and a gateway with it answers the peer\'s challenge', async () => {
  // An impostor: the first half of the handshake right (hello), then ready without a proof.
  const impostor = net.createServer((s) => {
    s.on('error', () => {});
    s.write(encodeFrame({ type: 'hello', server: 'g1', nonce: 'ab' }));
    s.on('data', () => s.write(encodeFrame({ type: 'ready', proof: '00' })));
  });
  impostor.listen(0, '127.0.0.1');
  await once(impostor, 'listening');
  const real = new GatewayServer({ server: () => 'g2', secret: 'gw-secret', handle: async () => ({ ok: true, recipients: 1 }) });
  const { port } = await real.listen('127.0.0.1', 0);
  const pool = new GatewayPool({ secret: 'gw-secret' });
  const body = { type: 'publish', id: 1, body: 'x' } as const;
  try {
    await assert.rejects(pool.request('g1', '127.0.0.1', (impostor.address() as net.AddressInfo).port, body, 2_000), /did not prove the cluster secret/);
    assert.equal((await pool.request('g2', '127.0.0.1', port, body, 2_000)).ok, true);
    const wrong = new GatewayPool({ secret: 'other' });
    await assert.rejects(wrong.request('g2', '127.0.0.1', port, body, 2_000), GatewayUnavailableError);
    wrong.close();
  } finally {
    pool.close();
    impostor.close();
    await real.close();
  }
});

test('gateway pool - one persistent connection per server answers requests; forget() closes it', async () => {
  const requests: string[] = [];
  const gw = new GatewayServer({
    server: () => 'g1',
    handle: async (req) => {
      requests.push(req.type);
      return { ok: true, recipients: 3 };
    },
  });
  const { port } = await gw.listen('127.0.0.1', 0);
  const pool = new GatewayPool();
  try {
    const results = await Promise.all(Array.from({ length: 5 }, () => pool.request('g1', '127.0.0.1', port, { type: 'publish', id: 'm', body: 1 }, 2_000)));
    assert.ok(results.every((r) => r.ok && r.recipients === 3));
    assert.equal(pool.size, 1);
    assert.equal(gw.stats.peers, 1, 'one connection for five requests');
    pool.forget('g1');
    assert.equal(pool.size, 0);
    assert.deepEqual(requests, ['publish', 'publish', 'publish', 'publish', 'publish']);
  } finally {
    pool.close();
    await gw.close();
  }
});
