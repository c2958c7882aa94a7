import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rssBytes } from '../../bench/rss.js';
import { Router } from '../../src/messaging/router.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { rawClient, type RawClient } from '../helpers/raw-client.js';
import { withRoot } from '../helpers/zk.js';

const PUBLISHES = 300;
const BODY = 'x'.repeat(60_000);
const MB = 1024 * 1024;

/** Publishes one message to `room` and waits until `reader` has it. */
async function publishSeen(push: Router, reader: RawClient, room: string): Promise<number> {
  const from = reader.frames.length;
  const r = await push.publish(room, BODY);
  await reader.next((f) => f.type === 'message', from);
  return r.recipients;
}

async function joined(c: RawClient, user: string, room: string): Promise<void> {
  c.send({ type: 'login', user }, { type: 'join', room }, { type: 'ping', seq: 1 });
  await c.next((f) => f.type === 'pong');
}

test('messaging slow reader - a client that stops reading while 300 x 60 KB go to its room is kicked as slow and closed, its server grows < 12 MB, a reading client gets all 300', (t) =>
  withRoot('slow-reader', async ({ connect, root }) => {
    const runner = new ServerRunner({ count: 1, zk: connect, root, host: '127.0.0.1' });
    const push = new Router({ zk: connect, root });
    const clients: RawClient[] = [];
    try {
      const [server] = await runner.start();
      await push.start();
      const reader = await rawClient(server!.port, { autoAck: true });
      clients.push(reader);
      await joined(reader, 'reader', 'news');
      // Warm the server up on the same traffic first, so the growth measured is what a stalled reader costs.
      for (let i = 0; i < 30; i++) await publishSeen(push, reader, 'news');
      const stalled = await rawClient(server!.port, { autoAck: true });
      clients.push(stalled);
      await joined(stalled, 'stalled', 'news');
      stalled.socket.pause(); // reads nothing more: the kernel buffers fill, then the server's queue
      const before = rssBytes(server!.pid);

      const recipients: number[] = [];
      for (let i = 0; i < PUBLISHES; i++) recipients.push(await publishSeen(push, reader, 'news'));
      const grown = rssBytes(server!.pid) - before;
      t.diagnostic(`server RSS ${(before / MB).toFixed(1)} MB before, grew ${(grown / MB).toFixed(1)} MB`);

      assert.equal(reader.frames.filter((f) => f.type === 'message').length, 30 + PUBLISHES, 'the reading client got every message');
      assert.ok(grown < 12 * MB, `server RSS grew ${(grown / MB).toFixed(1)} MB`);
      const kickedAfter = recipients.indexOf(1);
      assert.ok(kickedAfter > 0 && recipients.slice(kickedAfter).every((n) => n === 1), `recipients: ${recipients.join(',')}`);
      const stats = (await runner.stats(0)).stats;
      assert.deepEqual([stats.slowKicks, stats.kicks, stats.users], [1, 1, 1]);

      stalled.socket.resume(); // what was queued, then the kick, then the close
      await stalled.closed;
      const types = stalled.frames.map((f) => f.type);
      assert.deepEqual(stalled.frames.at(-1), { type: 'kicked', reason: 'slow' });
      assert.deepEqual(types.slice(0, 2), ['welcome', 'pong']);
      assert.ok(types.slice(2, -1).every((t) => t === 'message') && types.length - 3 < PUBLISHES, `the stalled client got ${types.length - 3} messages before the kick`);
      assert.equal(reader.socket.destroyed, false, 'the reading client is still connected');
    } finally {
      for (const c of clients) c.socket.destroy();
      push.close();
      await runner.stop();
    }
  }));
