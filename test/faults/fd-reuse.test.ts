import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { ZkSession } from '../../src/zk/session.js';
import { closeSocket } from '../helpers/socket.js';
import { startProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { measured } from '../helpers/fault-util.js';
import { eventually } from '../helpers/eventually.js';
import { testZk } from '../helpers/zk.js';

/** The shared test ZooKeeper runs tickTime 1000, so 3 s is a legal (and quick) session timeout. */
const SESSION_TIMEOUT_MS = 3_000;
/** Long enough for the C client to time out, reconnect and time out again (its receive timeout is 2 s). */
const PARTITION_MS = 5_000;
/** How long a healthy loopback echo may take on this noisy machine before we call the listener dead. */
const ECHO_TIMEOUT_MS = 5_000;

/** Connects to a server, sends one byte and waits for it to come back. */
async function echoes(port: number): Promise<boolean> {
  const s = net.connect(port, '127.0.0.1');
  try {
    await once(s, 'connect');
    s.write('x');
    const timer = new Promise<false>((r) => setTimeout(() => r(false), ECHO_TIMEOUT_MS).unref());
    const echo = once(s, 'data').then(([b]) => String(b) === 'x');
    return await Promise.race([echo, timer]);
  } catch {
    return false;
  } finally {
    await closeSocket(s);
  }
}

/**
 * The C client closes its socket inside zookeeper_interest (receive timeout) and zookeeper_process
 * (connection loss, expiry) and calls the 'connecting' watcher right after. A listening socket made
 * in that window, or later while the handle retries, gets the freed fd number. Any late stop of the
 * addon's poll handle on that number removes the listener from epoll: the kernel still completes
 * handshakes, but the server never accepts.
 */
test('fd reuse - listening sockets opened while the ZooKeeper handle is cut off keep accepting connections', async () => {
  const zkPort = Number((await testZk()).split(',')[0]!.split(':')[1]);
  let px: FaultProxy | undefined;
  let session: ZkSession | undefined;
  const servers: { srv: net.Server; when: string }[] = [];
  const listen = async (when: string) => {
    const srv = net.createServer((s) => s.pipe(s));
    servers.push({ srv, when });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
  };
  try {
    px = await startProxy(zkPort);
    session = new ZkSession({ connect: `127.0.0.1:${px.port}`, sessionTimeoutMs: SESSION_TIMEOUT_MS });
    await session.start();
    let disconnects = 0;
    // Runs inside the addon's callback, right after the C client closed its socket.
    session.on('disconnected', () => {
      disconnects++;
      for (let i = 0; i < 3; i++) void listen(`in 'disconnected' #${disconnects}`);
    });

    await px.cut(); // connection loss: closed in zookeeper_process
    assert.ok(await eventually(() => disconnects === 1, 15_000), 'the cut was noticed');
    assert.ok(await eventually(() => session!.isConnected, 15_000), 'reconnected after the cut');
    await px.blackhole(true); // receive timeouts: closed in zookeeper_interest, again and again
    const cutAt = Date.now();
    while (Date.now() - cutAt < PARTITION_MS) {
      await listen('during the partition');
      await new Promise((r) => setTimeout(r, 50));
    }
    await px.blackhole(false);
    assert.ok(await eventually(() => session!.isConnected, 20_000), 'connected again after the heal');
    await listen('after the heal');
    assert.ok(disconnects >= 2, `the handle lost its connection at least twice (saw ${disconnects})`);
    measured('fd reuse: listening sockets opened while cut off', servers.length, '');

    const results = await Promise.all(servers.map(async ({ srv, when }) => ({ when, ok: await echoes((srv.address() as net.AddressInfo).port) })));
    const dead = results.filter((r) => !r.ok).map((r) => r.when);
    assert.deepEqual(dead, [], `${dead.length} of ${servers.length} listening sockets never accepted`);
  } finally {
    session?.close();
    await Promise.all(servers.map(({ srv }) => new Promise((r) => srv.close(r))));
    await px?.close();
  }
});
