// WebSocket beside raw TCP on the same server port (one MessagingServer process per side of each
// part, default ping protocol, no login): round trip, connection setup throughput, and memory per
// held connection (RSS above idle, as in the hold part). Rounds interleave the two kinds.
import { ServerRunner, type RunningServer } from '../src/tools/runner/server-runner.js';
import { BenchChild } from './child-ipc.js';
import { medianOfRounds, ratio, summarize, type Summary } from './percentiles.js';
import { rssBytes } from './rss.js';

export interface WsBenchOptions {
  zk: string;
  root: string;
  /** Rounds per part and kind. @default 6 */
  rounds?: number;
  /** Connections held per kind for the memory part. @default 5000 */
  hold?: number;
  log?: (s: string) => void;
}

export interface WsBenchResult {
  rtt: { tcp: Summary; ws: Summary; conns: number; pings: number };
  connect: { tcp: number; ws: number; n: number; concurrency: number };
  hold: { tcp: number; ws: number; n: number };
}

type Kind = 'tcp' | 'ws';
const KINDS: readonly Kind[] = ['tcp', 'ws'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withServer<T>(zk: string, root: string, fn: (s: RunningServer, runner: ServerRunner) => Promise<T>): Promise<T> {
  const runner = new ServerRunner({ count: 1, zk, root, host: '127.0.0.1', rebalance: false, logLevel: 'warn' });
  try {
    const [s] = await runner.start();
    return await fn(s!, runner);
  } finally {
    await runner.stop();
  }
}

export async function runWsBench(o: WsBenchOptions): Promise<WsBenchResult> {
  const rounds = o.rounds ?? 6;
  const holdN = o.hold ?? 5_000;
  const log = o.log ?? (() => {});
  const driver = new BenchChild('./driver-ws.js');
  try {
    const conns = 50;
    const pings = 100;
    const concurrency = 64;
    const n = 2_000;
    const { rtt, connect } = await withServer(o.zk, `${o.root}/rtt`, async (s) => {
      const rttRounds: Record<Kind, Summary[]> = { tcp: [], ws: [] };
      const rates: Record<Kind, number[]> = { tcp: [], ws: [] };
      for (let r = 0; r < rounds; r++) {
        for (const kind of r % 2 === 0 ? KINDS : [...KINDS].reverse()) {
          const rtts = await driver.request<number[]>('rtt', { kind, port: s.port, conns, pings, intervalMs: 10 }, 120_000);
          rttRounds[kind].push(summarize(rtts));
          const c = await driver.request<{ ms: number; ok: number; failed: number; firstError?: string }>('connect', { kind, port: s.port, n, concurrency }, 120_000);
          if (c.failed) log(`  ${kind}: ${c.failed} connects failed (${c.firstError})`);
          rates[kind].push((c.ok / c.ms) * 1000);
          log(`  round ${r + 1} ${kind}: rtt p50 ${rttRounds[kind].at(-1)!.p50.toFixed(3)} ms, ${Math.round(rates[kind].at(-1)!)} connects/s`);
          await sleep(200);
        }
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      return {
        rtt: { tcp: medianOfRounds(rttRounds.tcp), ws: medianOfRounds(rttRounds.ws), conns, pings },
        connect: { tcp: med(rates.tcp), ws: med(rates.ws), n, concurrency },
      };
    });
    const hold: Record<Kind, number> = { tcp: 0, ws: 0 };
    for (const kind of KINDS) {
      hold[kind] = await withServer(o.zk, `${o.root}/hold-${kind}`, async (s, runner) => {
        await sleep(1_000);
        const idle = rssBytes(s.pid);
        const h = await driver.request<{ held: number; failed: number; firstError?: string }>('hold', { kind, port: s.port, n: holdN, concurrency: 200 }, 300_000);
        if (h.failed) log(`  hold ${kind}: ${h.failed} failed (${h.firstError})`);
        for (let i = 0; i < 100 && (await runner.stats(0)).live < h.held; i++) await sleep(50);
        await sleep(1_000); // let the heap settle before reading RSS
        const perConn = (rssBytes(s.pid) - idle) / h.held;
        await driver.request('closeAll');
        log(`  hold ${kind}: ${h.held} held, ${Math.round(perConn)} B each above idle`);
        return perConn;
      });
    }
    return { rtt, connect, hold: { ...hold, n: holdN } };
  } finally {
    await driver.stop();
  }
}

/** The part's table, as the bench prints it. */
export function printWsBench(r: WsBenchResult, table: (head: string[], rows: (string | number)[][]) => void): void {
  const f = (v: number) => v.toFixed(3);
  const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
  console.log(`WebSocket beside raw TCP on the same port (1 server process; ${r.rtt.conns} connections × ${r.rtt.pings} paced pings per round; median of rounds)`);
  table(
    ['', 'raw TCP', 'WebSocket', 'ratio ws/tcp'],
    [
      ['round trip p50 (ms)', f(r.rtt.tcp.p50), f(r.rtt.ws.p50), ratio(r.rtt.ws.p50, r.rtt.tcp.p50)],
      ['round trip p99 (ms)', f(r.rtt.tcp.p99), f(r.rtt.ws.p99), ratio(r.rtt.ws.p99, r.rtt.tcp.p99)],
      [`connect + first pong, ${n0(r.connect.n)} at ${r.connect.concurrency} in flight (per s)`, n0(r.connect.tcp), n0(r.connect.ws), ratio(r.connect.ws, r.connect.tcp)],
      [`server RSS per held connection above idle (${n0(r.hold.n)} held)`, `${n0(r.hold.tcp)} B`, `${n0(r.hold.ws)} B`, ratio(r.hold.ws, r.hold.tcp)],
    ],
  );
  console.log('');
}
