import net from 'node:net';
import { encodeFrame, FrameDecoder, isPong, type PongMessage } from '../../src/protocol/frames.js';

/** How long `pong` waits for the answer to a ping. @default 5_000 */
export const DEFAULT_PONG_TIMEOUT_MS = 5_000;

/**
 * Opens a raw TCP connection and resolves once it is established. Later socket errors are
 * ignored here: they end in 'close', which is what tests look at.
 */
export function openSocket(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Destroys a socket and resolves once it has closed (at once when it already was). */
export function closeSocket(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.destroy();
  });
}

export async function closeSockets(sockets: readonly net.Socket[]): Promise<void> {
  await Promise.all(sockets.map(closeSocket));
}

/** Sends one ping on an open socket and resolves with the matching pong (rejects after timeoutMs or on close). */
export function pong(sock: net.Socket, seq: number, timeoutMs = DEFAULT_PONG_TIMEOUT_MS): Promise<PongMessage> {
  return new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    const done = (err?: Error, m?: PongMessage) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(m!);
    };
    const onData = (b: Buffer) => {
      try {
        for (const m of dec.push(b)) if (isPong(m) && m.seq === seq) return done(undefined, m);
      } catch (e) {
        done(e as Error);
      }
    };
    const onClose = () => done(new Error(`socket closed before pong ${seq}`));
    const timer = setTimeout(() => done(new Error(`no pong ${seq} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(encodeFrame({ type: 'ping', seq }));
  });
}

/** Sends one ping and resolves with the id of the server that answered. */
export async function ping(sock: net.Socket, seq: number, timeoutMs = DEFAULT_PONG_TIMEOUT_MS): Promise<string> {
  return (await pong(sock, seq, timeoutMs)).id;
}
