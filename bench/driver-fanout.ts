// Receivers of the fan-out bench, in their own process so their CPU is not the server's: raw TCP
// clients that log in with a `login` frame (no token: the bench's servers run without a secret),
// join a room (a ping after the join is the barrier), count every `message` frame and note when
// the last one arrived. They never ack: room messages and broadcasts are not acked.
import { once } from 'node:events';
import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../src/protocol/frames.js';
import { serveRequests } from './child-ipc.js';
import { countReceipt, receiptRequests } from './receipt-window.js';
import { withConcurrency } from './messaging.js';

interface Receiver {
  socket: net.Socket;
  decoder: FrameDecoder;
  /** Resolved by the next `welcome` or `pong`. */
  answered?: () => void;
}

const groups = new Map<string, Receiver[]>();

function onFrames(r: Receiver, chunk: Buffer): void {
  for (const m of r.decoder.push(chunk) as { type?: string }[]) {
    if (m.type === 'message') countReceipt();
    else if (m.type === 'welcome' || m.type === 'pong') r.answered?.();
  }
}

/** Sends `frame` and resolves at the next welcome or pong (fails if the socket closes first). */
function ask(r: Receiver, frame: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('fan-out driver: a receiver was closed'));
    r.socket.once('close', closed);
    r.answered = () => {
      r.answered = undefined;
      r.socket.off('close', closed);
      resolve();
    };
    r.socket.write(encodeFrame(frame));
  });
}

async function open(port: number, user: string): Promise<Receiver> {
  const socket = net.connect(port, '127.0.0.1');
  const r: Receiver = { socket, decoder: new FrameDecoder() };
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => onFrames(r, chunk));
  await ask(r, { type: 'login', user });
  return r;
}

serveRequests({
  ...receiptRequests,
  init() {
    return process.pid;
  },
  /** Opens `n` plain connections to `port` (no login: the write floor's server speaks no protocol). */
  async connect(m) {
    const list: Receiver[] = [];
    groups.set(m.group as string, list);
    await withConcurrency(Array.from({ length: m.n as number }, (_, i) => i), 200, async (i) => {
      const socket = net.connect(m.port as number, '127.0.0.1');
      const r: Receiver = { socket, decoder: new FrameDecoder() };
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => onFrames(r, chunk));
      await once(socket, 'connect');
      list[i] = r;
    });
    return list.length;
  },
  /** Logs in users <group>-<from> … <group>-<from+n-1> on `port`, 200 at a time. */
  async login(m) {
    const group = m.group as string;
    const list = groups.get(group) ?? [];
    groups.set(group, list);
    const from = m.from as number;
    await withConcurrency(Array.from({ length: m.n as number }, (_, i) => from + i), 200, async (i) => {
      list[i] = await open(m.port as number, `${group}-${i}`);
    });
    return list.length;
  },
  /** Every receiver of `group` joins `room`; resolves once the server has taken each join in. */
  async join(m) {
    const list = groups.get(m.group as string) ?? [];
    await withConcurrency(list, 200, async (r) => {
      r.socket.write(encodeFrame({ type: 'join', room: m.room }));
      await ask(r, { type: 'ping', seq: 1 });
    });
    return list.length;
  },
  /** Closes every receiver. */
  close() {
    for (const list of groups.values()) for (const r of list) r.socket.destroy();
    groups.clear();
    return 0;
  },
});
