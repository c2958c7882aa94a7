import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/messaging/router.js';
import { GatewayServer } from '../../src/messaging/gateway/gateway-server.js';
import { encodeShard } from '../../src/messaging/routes/shard-codec.js';
import { encodeServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { captureLogger } from '../helpers/log-capture.js';
import { MemoryZk } from '../helpers/memory-zk.js';

/** Gateways on loopback that count the requests they are answering at once (each answer waits a moment). */
async function gateways(n: number): Promise<{ servers: GatewayServer[]; ports: number[]; peak: () => number; close: () => Promise<void> }> {
  let inFlight = 0;
  let peak = 0;
  const servers = Array.from({ length: n }, (_, i) =>
    new GatewayServer({
      server: () => `g${i}`,
      handle: async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 5)); // let requests overlap; only the peak is asserted
        inFlight--;
        return { ok: true, acked: true, recipients: 1 };
      },
    }),
  );
  const ports = (await Promise.all(servers.map((s) => s.listen('127.0.0.1', 0)))).map((a) => a.port);
  return { servers, ports, peak: () => peak, close: async () => void (await Promise.all(servers.map((s) => s.close()))) };
}

/** Server nodes with their gateways and one route shard per server, the way servers publish them. */
async function publish(tree: MemoryZk, ports: number[], usersOf: (i: number) => string[]): Promise<void> {
  const zk = tree.client();
  for (const p of ['/fulcrum', '/fulcrum/servers', '/fulcrum/routes']) await zk.create(p, Buffer.alloc(0));
  for (const [i, port] of ports.entries()) {
    await zk.create(`/fulcrum/servers/g${i}`, encodeServerData({ ip: '127.0.0.1', port: 1, balance: 0, gatewayIp: '127.0.0.1', gatewayPort: port }), C.ZOO_EPHEMERAL);
    const users = new Map(usersOf(i).map((u, k) => [u, [1, k] as const]));
    await zk.create(`/fulcrum/routes/g${i}#0`, encodeShard({ server: `g${i}`, users }), C.ZOO_EPHEMERAL);
  }
}

test('router - pushMany keeps at most pushConcurrency pushes in flight', async () => {
  const tree = new MemoryZk();
  const gw = await gateways(1);
  const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
  await publish(tree, gw.ports, () => users);
  const router = new Router({ zk: tree.session(), pushConcurrency: 8 });
  try {
    const results = await router.pushMany(users, 'hi');
    assert.equal(results.filter((r) => r.acked).length, users.length);
    assert.deepEqual(results.map((r) => r.user), users, 'in order');
    assert.ok(gw.peak() <= 8 && gw.peak() >= 2, `peak ${gw.peak()} in flight`);
  } finally {
    router.close();
    await gw.close();
  }
});

test('router - a broadcast reaches servers at most fanoutConcurrency at a time; an unreachable one is reported and not counted', async () => {
  const tree = new MemoryZk();
  const gw = await gateways(12);
  await publish(tree, gw.ports, (i) => [`u${i}`]);
  const { logger, lines } = captureLogger();
  const router = new Router({ zk: tree.session(), fanoutConcurrency: 3, logger });
  try {
    await router.start();
    assert.deepEqual(await router.broadcast('all'), { servers: 12, recipients: 12 });
    assert.ok(gw.peak() <= 3, `peak ${gw.peak()} servers at once`);
    await gw.servers[5]!.close();
    const r = await router.broadcast('all but one');
    assert.deepEqual(r, { servers: 11, recipients: 11 });
    const reported = lines.filter((l) => l.component === 'Router');
    assert.equal(reported.length, 1, 'the unreachable server said once');
    assert.equal(reported[0]!.code, 'FULCRUM_GATEWAY_UNAVAILABLE');
    assert.equal(reported[0]!.server, 'g5');
  } finally {
    router.close();
    await gw.close();
  }
});
