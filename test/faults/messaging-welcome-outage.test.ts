import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { firstPort, startProxy } from '../helpers/fault-proxy.js';
import { closeMessaging } from '../helpers/messaging.js';
import { rawClient } from '../helpers/raw-client.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('messaging welcome outage - while ZooKeeper is unreachable a login waits, its frames held in order, and is welcomed when it is back; past welcomeTimeoutMs it is refused with FULCRUM_ROUTES_UNAVAILABLE and leaves no route', async () => {
  const { root, cleanup } = await freshRoot(zk, 'welcome-outage');
  const px = await startProxy(firstPort(connect));
  const via = `127.0.0.1:${px.port}`;
  // The session outlives the outage: the route write lands once the connection is back.
  const patient = new MessagingServer({ zk: via, root, port: 0, sessionTimeoutMs: 15_000 });
  const hasty = new MessagingServer({ zk: via, root, port: 0, sessionTimeoutMs: 15_000, welcomeTimeoutMs: 300 });
  const push = new Router({ zk: connect, root });
  try {
    await Promise.all([patient.listen(), hasty.listen(), push.start()]);
    await px.blackhole(true);
    const waiting = await rawClient(patient.endpoint!.port, { autoAck: true });
    waiting.send({ type: 'login', user: 'patient' }, { type: 'ping', seq: 1 });
    const refused = await rawClient(hasty.endpoint!.port);
    refused.send({ type: 'login', user: 'hasty' }, { type: 'ping', seq: 1 });

    await refused.closed;
    assert.deepEqual(refused.frames.map((f) => [f.type, f.code]), [['error', 'FULCRUM_ROUTES_UNAVAILABLE']], 'nothing but the error: the ping behind the login was never answered');
    assert.ok(await eventually(() => patient.stats.loggingIn === 1), 'the patient login is waiting for its route');
    assert.deepEqual([...waiting.frames], [], 'no welcome, no pong while the route cannot be stored');

    await px.blackhole(false);
    await px.cut(); // drop the half-dead connections at once: the sessions reconnect and the writes are retried
    await waiting.next((f) => f.type === 'pong');
    assert.deepEqual(waiting.frames.map((f) => f.type), ['welcome', 'pong']);
    assert.equal(patient.userCount, 1);
    const r = await push.push('patient', 'after the outage');
    assert.equal(r.server, patient.id);
    assert.equal((await waiting.next((f) => f.type === 'message')).body, 'after the outage');

    await hasty.routesFlushed();
    assert.equal(await push.routes.lookup('hasty'), undefined, 'the refused login left no route');
    assert.deepEqual([hasty.userCount, hasty.stats.loggingIn, hasty.stats.refused], [0, 0, 1]);
    waiting.socket.destroy();
  } finally {
    push.close();
    await px.blackhole(false);
    await closeMessaging([patient, hasty]);
    await px.close();
    await cleanup();
  }
});
