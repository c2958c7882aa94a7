import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import { request, type HttpAnswer } from '../helpers/alloc-fixture.js';
import { startMessagingAlloc } from '../helpers/alloc-messaging.js';
import { closeMessaging, startMessagingServers } from '../helpers/messaging.js';
import { rawClient, type Frame } from '../helpers/raw-client.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const USERS = 30;

test('messaging welcome - 30 users log in over raw TCP and are pushed through the alloc service the instant welcome arrives: 30 of 30 acked', async () => {
  // Route writes spaced out (a lone login waits up to 150 ms for its write): a welcome sent before the write lands would show here.
  const f = await startMessagingAlloc({ servers: 2, label: 'welcome-push', server: { routeWriteIntervalMs: 300 } });
  try {
    const answers: Promise<HttpAnswer>[] = [];
    const clients = await Promise.all(
      Array.from({ length: USERS }, (_, i) =>
        rawClient(f.servers[i % 2]!.endpoint!.port, {
          autoAck: true,
          onFrame: (frame) => {
            if (frame.type === 'welcome') answers.push(request(`${f.url}push`, { method: 'POST', body: { user: `w${i}`, message: { n: i } } }));
          },
        }),
      ),
    );
    for (const [i, c] of clients.entries()) c.send({ type: 'login', user: `w${i}` });
    assert.ok(await eventually(() => answers.length === USERS), `${answers.length} welcomes`);
    const results = await Promise.all(answers);
    assert.equal(results.length, USERS);
    const acked = results.filter((r) => r.status === 200 && r.json<{ acked: boolean }>().acked === true);
    assert.equal(acked.length, USERS, results.filter((r) => r.status !== 200).map((r) => r.text).join('\n'));
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(c.frames.map((fr) => fr.type), ['welcome', 'message'], `w${i}`);
      assert.deepEqual(c.frames[1]!.body, { n: i });
      c.socket.destroy();
    }
  } finally {
    await f.close();
  }
});

test('messaging welcome - frames sent with the login wait for the welcome and keep their order; nothing reaches the user before it', async () => {
  const { root, cleanup } = await freshRoot(zk, 'welcome-order');
  const servers = await startMessagingServers(1, { zk: connect, root });
  const push = new Router({ zk: connect, root });
  try {
    const server = servers[0]!;
    await push.start();
    const c = await rawClient(server.endpoint!.port, { autoAck: true });
    // One write: login, then a join, a leave, a join and a ping behind it.
    c.send({ type: 'login', user: 'eager' }, { type: 'join', room: 'a' }, { type: 'leave', room: 'a' }, { type: 'join', room: 'b' }, { type: 'ping', seq: 7 });
    const pong = await c.next((fr) => fr.type === 'pong');
    assert.deepEqual(c.frames.map((fr) => fr.type), ['welcome', 'pong']);
    assert.deepEqual(c.frames[0], { type: 'welcome', user: 'eager', server: server.id });
    assert.deepEqual(pong, { type: 'pong', seq: 7, id: server.id });
    // The frames were handled in order: the leave came after the first join.
    assert.deepEqual(await push.publish('a', 'to a'), { servers: 1, recipients: 0 });
    assert.deepEqual(await push.publish('b', 'to b'), { servers: 1, recipients: 1 });
    const msg = await c.next((fr) => fr.type === 'message');
    assert.equal(msg.body, 'to b');
    c.socket.destroy();
  } finally {
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('messaging welcome - a push routed to a login whose route is stored but not yet welcomed waits for the welcome, then arrives after it', async () => {
  const { root, cleanup } = await freshRoot(zk, 'welcome-race');
  const servers = await startMessagingServers(2, { zk: connect, root });
  try {
    // Server 1's router pushes to users logging in on server 0 as soon as it sees their route in ZooKeeper.
    const router = servers[1]!.router;
    const pushed: Promise<unknown>[] = [];
    router.routes.on('changed', (users) => {
      for (const u of users) if (router.route(u)) pushed.push(router.push(u, `hello ${u}`).catch((e: Error) => e));
    });
    const clients: { user: string; frames: Frame[] }[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await rawClient(servers[0]!.endpoint!.port, { autoAck: true });
      c.send({ type: 'login', user: `race-${i}` });
      clients.push({ user: `race-${i}`, frames: c.frames });
      await c.next((fr) => fr.type === 'message');
      c.socket.destroy();
    }
    const results = await Promise.all(pushed);
    assert.ok(results.every((r) => !(r instanceof Error)), String(results.find((r) => r instanceof Error)));
    for (const c of clients) assert.deepEqual(c.frames.map((fr) => fr.type), ['welcome', 'message'], c.user);
  } finally {
    await closeMessaging(servers);
    await cleanup();
  }
});
