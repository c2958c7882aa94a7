// A messaging client written from the README's wire contract alone, with `ws` and msgpackr used
// directly (no project code): a WebSocket at /ws carrying one plain MessagePack map per binary
// message, or raw frames (4-byte big-endian length + MessagePack map) over TLS.
import tls from 'node:tls';
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

export type Frame = Record<string, unknown>;

export interface ReadmeClient {
  frames: Frame[];
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  send(...frames: Frame[]): void;
  /** Sends a text WebSocket message (a protocol error). */
  sendText?(text: string): void;
  /** The first received frame (from index `from`) matching `pred`; rejects when the connection closes first. */
  next(pred: (f: Frame) => boolean, from?: number): Promise<Frame>;
  close(): void;
}

type Kind = 'ws' | 'wss' | 'tls';

/** Opens a client; every `message` is acked as it arrives. `ca`: the CA certificate to verify the server against (wss, tls). */
export function readmeClient(kind: Kind, port: number, opts: { ca?: Buffer; host?: string } = {}): Promise<ReadmeClient> {
  const host = opts.host ?? '127.0.0.1';
  const frames: Frame[] = [];
  const waiters: { pred: (f: Frame) => boolean; from: number; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  let isClosed = false;
  let write: (body: Buffer) => void = () => {};
  const onClose = () => {
    isClosed = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`closed before the expected frame (got ${JSON.stringify(frames.map((f) => f.type))})`));
  };
  const onFrame = (f: Frame) => {
    frames.push(f);
    if (f.type === 'message') write(pack({ type: 'ack', id: f.id }));
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (frames.length - 1 >= w.from && w.pred(f)) {
        waiters.splice(i, 1);
        w.resolve(f);
      }
    }
  };
  const base = (closed: Promise<void>, close: () => void): ReadmeClient => ({
    frames,
    closed,
    send: (...fs) => fs.forEach((f) => write(pack(f))),
    next(pred, from = 0) {
      const found = frames.slice(from).find(pred);
      if (found) return Promise.resolve(found);
      if (isClosed) return Promise.reject(new Error('closed'));
      return new Promise((resolve, reject) => waiters.push({ pred, from, resolve, reject }));
    },
    close,
  });
  if (kind === 'tls') {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host, port, ca: opts.ca });
      let buffered = Buffer.alloc(0);
      write = (body) => {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(body.length);
        socket.write(Buffer.concat([head, body]));
      };
      const closed = new Promise<void>((r) => socket.once('close', () => (onClose(), r())));
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
          const len = buffered.readUInt32BE(0);
          const f = unpack(buffered.subarray(4, 4 + len)) as Frame;
          buffered = buffered.subarray(4 + len);
          onFrame(f);
        }
      });
      socket.once('error', reject);
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        resolve(base(closed, () => socket.destroy()));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${kind}://${host}:${port}/ws`, { ca: opts.ca });
    write = (body) => ws.send(body);
    const closed = new Promise<void>((r) => ws.once('close', () => (onClose(), r())));
    ws.on('message', (data: Buffer, isBinary: boolean) => onFrame(isBinary ? (unpack(data) as Frame) : { type: 'text', text: data.toString() }));
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({ ...base(closed, () => ws.terminate()), sendText: (t) => ws.send(t) });
    });
  });
}
