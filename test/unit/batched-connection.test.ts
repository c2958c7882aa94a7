import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frames.js';
import type { ConnectionHandler } from '../../src/server/transport/client-connection.js';
import { FLUSH_AT_BYTES } from '../../src/server/transport/batched-connection.js';
import { TcpConnection } from '../../src/server/transport/tcp-connection.js';

const handler: ConnectionHandler<object> = { received: () => true, frame() {}, malformed() {}, closed() {} };
const endOfTurn = () => new Promise((r) => setImmediate(r));

/** A server-side TcpConnection over a real loopback socket, counting the writes that reach the socket, and its peer collecting what arrives. */
async function pair(): Promise<{ conn: TcpConnection<object>; writes: () => number; arrived: () => Promise<unknown[]>; close(): void }> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const peer = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [socket] = (await accepted) as [Socket];
  let writes = 0;
  const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
  socket.write = ((chunk: Buffer) => (writes++, write(chunk))) as typeof socket.write;
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(peer, 'end');
  return {
    conn: new TcpConnection(socket, {}, handler),
    writes: () => writes,
    arrived: async () => (await ended, new FrameDecoder().push(Buffer.concat(chunks))),
    close() {
      peer.destroy();
      socket.destroy();
      server.close();
    },
  };
}

test('batched connection - frames of one turn count in queuedBytes at once, reach the socket in one write at the end of the turn, in order; end() sends the waiting ones before the close', async () => {
  const p = await pair();
  try {
    const frames = [0, 1, 2].map((n) => encodeFrame({ n }));
    for (const f of frames) p.conn.write(f);
    // The slow-reader bound reads queuedBytes right after each write: frames still waiting count.
    assert.equal(p.conn.queuedBytes, frames.reduce((a, f) => a + f.length, 0));
    assert.equal(p.writes(), 0);
    await endOfTurn();
    assert.equal(p.writes(), 1);

    p.conn.write(encodeFrame({ n: 3 }));
    p.conn.write(encodeFrame({ n: 4 }));
    p.conn.end(1_000);
    assert.equal(p.writes(), 2, 'end() hands the waiting frames over first');
    assert.deepEqual(await p.arrived(), [0, 1, 2, 3, 4].map((n) => ({ n })));
    await endOfTurn();
    assert.equal(p.writes(), 2, 'nothing is written twice');
  } finally {
    p.close();
  }
});

test('batched connection - destroy() drops the frames waiting for the end of the turn', async () => {
  const p = await pair();
  try {
    p.conn.write(encodeFrame({ n: 0 }));
    p.conn.destroy();
    assert.equal(p.conn.queuedBytes, 0);
    await endOfTurn();
    assert.equal(p.writes(), 0);
  } finally {
    p.close();
  }
});

test('batched connection - frames past FLUSH_AT_BYTES in one turn go to the socket at once, the rest at the end of the turn, all in order', async () => {
  const p = await pair();
  try {
    const big = (n: number) => encodeFrame({ n, pad: 'x'.repeat(FLUSH_AT_BYTES / 2) });
    p.conn.write(big(0));
    assert.equal(p.writes(), 0);
    p.conn.write(big(1));
    assert.equal(p.writes(), 1, 'two halves pass the threshold: written at once');
    p.conn.write(encodeFrame({ n: 2 }));
    assert.equal(p.writes(), 1);
    await endOfTurn();
    assert.equal(p.writes(), 2);
    p.conn.end(1_000);
    assert.deepEqual((await p.arrived()).map((f) => (f as { n: number }).n), [0, 1, 2]);
  } finally {
    p.close();
  }
});
