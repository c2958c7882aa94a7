// The server's own ping path, one process per side and the same client: a plain net.Server with
// the default ping handler, a ClusterServer (registered, balance updates on) and a MessagingServer
// (the messaging protocol answers the ping). Tells what the server adds from what the latency
// part's setup (5 processes a side, ZooKeeper sessions, HAProxy beside them) adds.
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { appendChunk, DEFAULT_MAX_FRAME_BYTES, encodeFrame, NO_PENDING_BYTES, takeFrames } from '../src/protocol/frames.js';
import { BenchChild } from './child-ipc.js';
import { quantile } from './percentiles.js';

export const PING_PATH_KINDS = ['plain', 'fulcrum', 'messaging'] as const;
export type PingPathKind = (typeof PING_PATH_KINDS)[number];
const CONNECTIONS = 50;
const ROUNDS = 40;
const PINGS_PER_ROUND = 50;

export interface PingPathRow {
  kind: PingPathKind;
  /** Round trip, µs, over every ping of every round. */
  p50: number;
  p90: number;
  n: number;
}

interface PingSocket {
  socket: net.Socket;
  pending: Buffer;
  answer: (() => void) | undefined;
}

async function connect(port: number): Promise<PingSocket> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const s: PingSocket = { socket, pending: NO_PENDING_BYTES, answer: undefined };
  socket.on('data', (chunk: Buffer) => {
    const frames: unknown[] = [];
    s.pending = takeFrames(appendChunk(s.pending, chunk), DEFAULT_MAX_FRAME_BYTES, frames);
    for (let i = 0; i < frames.length; i++) s.answer?.();
  });
  return s;
}

/** One ping at a time, 1 ms apart, sides rotated every round; the client is this process. */
export async function runPingPath(o: { zk: string; root: string }): Promise<PingPathRow[]> {
  const servers = PING_PATH_KINDS.map(() => new BenchChild('./server-plain.js', [], { execArgv: ['--max-semi-space-size=1'] }));
  const sides: PingSocket[][] = [];
  try {
    for (let k = 0; k < PING_PATH_KINDS.length; k++) {
      const port = await servers[k]!.request<number>('listen', { kind: PING_PATH_KINDS[k], zk: o.zk, root: `${o.root}-${PING_PATH_KINDS[k]}` });
      sides.push(await Promise.all(Array.from({ length: CONNECTIONS }, () => connect(port))));
    }
    const rtt: number[][] = PING_PATH_KINDS.map(() => []);
    let seq = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < PING_PATH_KINDS.length; j++) {
        const k = (j + r) % PING_PATH_KINDS.length;
        for (let i = 0; i < PINGS_PER_ROUND; i++) {
          const s = sides[k]![i % CONNECTIONS]!;
          const answered = new Promise<void>((resolve) => (s.answer = resolve));
          const t0 = process.hrtime.bigint();
          s.socket.write(encodeFrame({ type: 'ping', seq: ++seq }));
          await answered;
          rtt[k]!.push(Number(process.hrtime.bigint() - t0) / 1_000);
          await sleep(1);
        }
      }
    }
    return PING_PATH_KINDS.map((kind, k) => ({ kind, p50: quantile(rtt[k]!, 0.5), p90: quantile(rtt[k]!, 0.9), n: rtt[k]!.length }));
  } finally {
    for (const s of sides.flat()) s.socket.destroy();
    await Promise.all(servers.map((s) => s.request('close').catch(() => {})));
    await Promise.all(servers.map((s) => s.stop()));
  }
}
