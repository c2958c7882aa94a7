// WebSocket-vs-raw-TCP driver in its own process: opens connections of one kind straight to a
// server port (raw frames, or a WebSocket at /ws with the same frames as binary messages), each
// proven by a ping/pong, and measures round trips, connection setup and holding.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { decodeBody, encodeBody, encodeFrame, FrameDecoder, isPong } from '../src/protocol/frames.js';
import { serveRequests } from './child-ipc.js';

type Kind = 'tcp' | 'ws';

/** One open connection: sends a ping, calls back on each pong. */
interface Conn {
  ping(seq: number): void;
  onPong: (seq: number) => void;
  close(): void;
}

function open(kind: Kind, port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no pong from :${port} (${kind}) within 30 s`)), 30_000);
    const ready = (c: Conn) => {
      c.onPong = (seq) => {
        if (seq !== 0) return;
        clearTimeout(timer);
        c.onPong = () => {};
        resolve(c);
      };
      c.ping(0);
    };
    if (kind === 'tcp') {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      const dec = new FrameDecoder();
      const c: Conn = { ping: (seq) => s.write(encodeFrame({ type: 'ping', seq })), onPong: () => {}, close: () => s.resetAndDestroy() };
      s.on('data', (chunk: Buffer) => {
        for (const m of dec.push(chunk)) if (isPong(m)) c.onPong(m.seq);
      });
      s.once('error', (e) => (clearTimeout(timer), reject(e)));
      s.once('connect', () => ready(c));
    } else {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
      const c: Conn = { ping: (seq) => ws.send(encodeBody({ type: 'ping', seq })), onPong: () => {}, close: () => ws.terminate() };
      ws.on('message', (data: Buffer) => {
        const m = decodeBody(data);
        if (isPong(m)) c.onPong(m.seq);
      });
      ws.once('error', (e) => (clearTimeout(timer), reject(e)));
      ws.once('open', () => ready(c));
    }
  });
}

async function openMany(kind: Kind, port: number, n: number, concurrency: number): Promise<{ conns: Conn[]; ms: number; failed: number; firstError?: string }> {
  const conns: Conn[] = [];
  let started = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n) {
        started++;
        try {
          conns.push(await open(kind, port));
        } catch (e) {
          failed++;
          firstError ??= (e as Error).message;
        }
      }
    }),
  );
  return { conns, ms: performance.now() - t0, failed, firstError };
}

const held: Conn[] = [];

serveRequests({
  /** `conns` connections each send `pings` pings `intervalMs` apart (never two in flight); resolves with every round trip (ms). */
  async rtt(m) {
    const { conns } = await openMany(m.kind as Kind, m.port as number, m.conns as number, 16);
    const rtts: number[] = [];
    await Promise.all(
      conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            let seq = 0;
            let sentAt = 0;
            const next = () => {
              if (seq === (m.pings as number)) return resolve();
              sentAt = performance.now();
              c.ping(++seq);
            };
            c.onPong = () => {
              rtts.push(performance.now() - sentAt);
              setTimeout(next, m.intervalMs as number);
            };
            setTimeout(next, Math.random() * (m.intervalMs as number));
          }),
      ),
    );
    for (const c of conns) c.close();
    return rtts;
  },
  /** Opens `n` (connect + first pong) with `concurrency` in flight, then closes them; resolves with the time it took. */
  async connect(m) {
    const r = await openMany(m.kind as Kind, m.port as number, m.n as number, m.concurrency as number);
    for (const c of r.conns) c.close();
    return { ms: r.ms, ok: r.conns.length, failed: r.failed, firstError: r.firstError };
  },
  /** Opens `n` and keeps them. */
  async hold(m) {
    const r = await openMany(m.kind as Kind, m.port as number, m.n as number, m.concurrency as number);
    held.push(...r.conns);
    return { held: r.conns.length, failed: r.failed, firstError: r.firstError };
  },
  closeAll() {
    for (const c of held.splice(0)) c.close();
    return true;
  },
});
