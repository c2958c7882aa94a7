import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { ZkSession } from '../../src/zk/session.js';
import { rawClient, type Frame } from '../helpers/raw-client.js';
import { readmeClient, type ReadmeClient } from '../helpers/readme-client.js';
import { eventually } from '../helpers/eventually.js';
import { withRoot } from '../helpers/zk.js';

const USERS = 12;
const FANOUTS = 40;

/** Messages received, as [kind, n] in arrival order. */
const received = (frames: readonly Record<string, unknown>[]) =>
  frames.filter((f) => f.type === 'message').map((f) => [f.room ?? (f.broadcast ? 'broadcast' : 'push'), (f.body as { n: number }).n]);

test('messaging fan-out - 40 broadcasts and 40 room publishes in flight reach every TCP and WebSocket user once, complete and in order; no user acks them, acks of room messages change nothing', async () => {
  await withRoot('fanout', async ({ connect, root }) => {
    const server = new MessagingServer({ zk: connect, root, port: 0 });
    await server.listen();
    const session = new ZkSession({ connect });
    const router = new Router({ zk: session, root });
    const clients: { frames: Frame[] | Record<string, unknown>[]; close(): void }[] = [];
    try {
      await router.start();
      const port = server.endpoint!.port;
      // Raw TCP users that never ack, and one WebSocket user that acks every message it gets (room messages and broadcasts too).
      const raws = await Promise.all(Array.from({ length: USERS }, () => rawClient(port)));
      for (const c of raws) clients.push({ frames: c.frames, close: () => c.socket.destroy() });
      const ws: ReadmeClient = await readmeClient('ws', port);
      clients.push(ws);
      const all = [...raws, ws];
      all.forEach((c, i) => c.send({ type: 'login', user: `u${i}` }, { type: 'join', room: 'news' }, { type: 'ping', seq: 1 }));
      await Promise.all(all.map((c) => c.next((f) => f.type === 'pong')));

      // Every fan-out leaves the Router at once: the server reads several in one chunk and merges their frames per connection.
      const broadcasts = await Promise.all(Array.from({ length: FANOUTS }, (_, n) => router.broadcast({ n })));
      const publishes = await Promise.all(Array.from({ length: FANOUTS }, (_, n) => router.publish('news', { n })));
      assert.deepEqual(new Set([...broadcasts, ...publishes].map((r) => r.recipients)), new Set([all.length]));

      // A ping after the fan-outs is the barrier: everything written before its pong has arrived.
      all.forEach((c) => c.send({ type: 'ping', seq: 2 }));
      await Promise.all(all.map((c) => c.next((f) => f.type === 'pong' && f.seq === 2)));
      const expected = [...Array.from({ length: FANOUTS }, (_, n) => ['broadcast', n]), ...Array.from({ length: FANOUTS }, (_, n) => ['news', n])];
      for (const c of all) assert.deepEqual(received(c.frames), expected);
      assert.deepEqual(all.map((c) => c.frames[0]!.type), all.map(() => 'welcome'));

      // A push still waits for its ack: the raw user answers it by hand, the WebSocket user (which acked 80 room messages and broadcasts before) at once.
      const raw = raws[0]!;
      raw.next((f) => f.type === 'message' && (f.body as { n: number }).n === -1).then((f) => raw.send({ type: 'ack', id: f.id! }), () => {});
      assert.ok(await eventually(() => router.route('u0') !== undefined && router.route(`u${USERS}`) !== undefined), 'routes visible');
      const pushed = await Promise.all([router.push('u0', { n: -1 }), router.push(`u${USERS}`, { n: -2 })]);
      assert.deepEqual(pushed.map((p) => [p.delivered, p.acked]), [[true, true], [true, true]]);
      const stats = server.stats;
      assert.deepEqual([stats.kicks, stats.refused, stats.rateLimited, stats.users], [0, 0, 0, all.length]);
      assert.equal(stats.messages, all.length * 2 * FANOUTS + 2);
    } finally {
      for (const c of clients) c.close();
      router.close();
      await session.close();
      await server.close();
    }
  });
});
