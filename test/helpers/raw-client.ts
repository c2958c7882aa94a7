// A messaging client written from the README's wire contract alone: TCP, a 4-byte big-endian
// length, one plain MessagePack map per frame (encoded and decoded from the spec, no msgpackr).
import net from 'node:net';
import { plainDecode, plainEncode, type PlainValue } from './plain-msgpack.js';

export type Frame = { [key: string]: PlainValue };

export function frameBytes(frame: Frame): Buffer {
  const body = plainEncode(frame);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export interface RawClient {
  socket: net.Socket;
  /** Every frame received, in order. */
  frames: Frame[];
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  send(...frames: Frame[]): void;
  /** Resolves with the first received frame (from index `from`) matching `pred`; rejects when the connection closes first. */
  next(pred: (f: Frame) => boolean, from?: number): Promise<Frame>;
}

/** Opens a raw client; with `autoAck`, every `message` is answered with `ack {id}` as it arrives. */
export function rawClient(port: number, opts: { autoAck?: boolean; onFrame?: (f: Frame, c: RawClient) => void } = {}): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const frames: Frame[] = [];
    const waiters: { pred: (f: Frame) => boolean; from: number; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
    let buffered: Buffer = Buffer.alloc(0);
    let isClosed = false;
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        isClosed = true;
        for (const w of waiters.splice(0)) w.reject(new Error(`closed before the expected frame (got ${JSON.stringify(frames.map((f) => f.type))})`));
        r();
      }),
    );
    const client: RawClient = {
      socket,
      frames,
      closed,
      send: (...fs) => void socket.write(Buffer.concat(fs.map(frameBytes))),
      next(pred, from = 0) {
        const found = frames.slice(from).find(pred);
        if (found) return Promise.resolve(found);
        if (isClosed) return Promise.reject(new Error('closed'));
        return new Promise((res, rej) => waiters.push({ pred, from, resolve: res, reject: rej }));
      },
    };
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const len = buffered.readUInt32BE(0);
        const f = plainDecode(buffered.subarray(4, 4 + len)) as Frame;
        buffered = buffered.subarray(4 + len);
        frames.push(f);
        if (opts.autoAck && f.type === 'message') client.send({ type: 'ack', id: f.id! });
        opts.onFrame?.(f, client);
        for (let i = waiters.length - 1; i >= 0; i--) {
          const w = waiters[i]!;
          if (frames.length - 1 >= w.from && w.pred(f)) {
            waiters.splice(i, 1);
            w.resolve(f);
          }
        }
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(client);
    });
  });
}
