import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { encodeFrame } from '../../src/protocol/frames.js';
import { TcpConnection } from '../../src/server/transport/tcp-connection.js';
import type { ConnectionHandler } from '../../src/server/transport/client-connection.js';

interface Recorded {
  frames: unknown[];
  malformed: string[];
  closed: number;
}

function recorder(): { handler: ConnectionHandler<string>; seen: Recorded } {
  const seen: Recorded = { frames: [], malformed: [], closed: 0 };
  return {
    seen,
    handler: {
      received: () => true,
      frame: (_owner, value) => void seen.frames.push(value),
      malformed: (_owner, e) => void seen.malformed.push(e.message),
      closed: () => void seen.closed++,
    },
  };
}

/** A connected loopback pair: the server's accepted socket and the client's. */
async function pair(): Promise<{ accepted: Socket; client: Socket; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [Socket];
  return {
    accepted,
    client,
    close: () => {
      client.destroy();
      accepted.destroy();
      server.close();
    },
  };
}

test('tcp connection - frames split at every offset arrive whole and in order; nothing kept between frames', async () => {
  const { accepted, close } = await pair();
  try {
    const messages = [{ type: 'login', user: 'u1' }, { type: 'ping', seq: 1 }, { text: 'x'.repeat(300) }];
    const all = Buffer.concat(messages.map((m) => encodeFrame(m)));
    for (let cut = 1; cut < all.length; cut += 5) {
      const { handler, seen } = recorder();
      const conn = new TcpConnection(accepted, 'owner', handler);
      assert.equal(conn.partialBytes, 0, 'an idle connection holds no bytes');
      conn.receive(all.subarray(0, cut));
      assert.ok(conn.partialBytes < all.length, `cut ${cut}: whole frames are not kept`);
      conn.receive(all.subarray(cut));
      assert.deepEqual(seen.frames, messages, `cut at ${cut}`);
      assert.equal(conn.partialBytes, 0, `cut ${cut}: nothing left once every frame is whole`);
      accepted.removeAllListeners('data').removeAllListeners('close');
    }
    // One byte at a time.
    const { handler, seen } = recorder();
    const conn = new TcpConnection(accepted, 'owner', handler);
    for (let i = 0; i < all.length; i++) conn.receive(all.subarray(i, i + 1));
    assert.deepEqual(seen.frames, messages);
    assert.equal(conn.partialBytes, 0);
  } finally {
    close();
  }
});

test('tcp connection - over a real socket: frames in chunks, an oversize frame is malformed, close reported once', async () => {
  const { accepted, client, close } = await pair();
  try {
    const { handler, seen } = recorder();
    new TcpConnection(accepted, 'owner', handler, 64);
    const a = encodeFrame({ a: 1 });
    const b = encodeFrame({ b: 'y'.repeat(20) });
    client.write(a.subarray(0, 3));
    client.write(Buffer.concat([a.subarray(3), b.subarray(0, 10)]));
    client.write(b.subarray(10));
    const big = encodeFrame('z'.repeat(100));
    client.write(big);
    client.end();
    await once(accepted, 'close');
    assert.deepEqual(seen.frames, [{ a: 1 }, { b: 'y'.repeat(20) }]);
    assert.equal(seen.malformed.length, 1);
    assert.match(seen.malformed[0]!, /exceeds 64/);
    assert.equal(seen.closed, 1);
  } finally {
    close();
  }
});
