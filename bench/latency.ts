// Round trip and connect → first pong, fulcrum (clients connect straight to the least-loaded
// server) vs HAProxy leastconn in front of the same 5 server processes. Same driver code for
// both, each side's driver in its own process, rounds interleaved.
import { BenchChild } from './child-ipc.js';
import { Haproxy } from './haproxy.js';
import { medianOfRounds, summarize, type Summary } from './percentiles.js';

export interface LatencyOptions {
  zk: string;
  root: string;
  haproxyPort: number;
  /** Measure this instead of the fulcrum client on the direct side (diagnostics). */
  directTarget?: Record<string, unknown>;
  /** Persistent connection counts to measure. @default [50, 500] */
  levels?: number[];
  /** Interleaved rounds per level. @default 12 */
  rounds?: number;
  /** Ping time per side per round. @default 600 */
  pingMs?: number;
  /** Pings per second offered in total, by connection count. @default { 50: 5000, 500: 10000 } */
  rates?: Record<number, number>;
  /** Fresh connects per side per round for connect → first pong; 0 leaves that part out. @default 50 */
  setups?: number;
  verbose?: boolean;
}

export interface LatencyRow {
  label: string;
  /** Median over rounds of each round's percentiles. */
  direct: Summary;
  proxy: Summary;
  /** Every sample of every round pooled. */
  pooled: { direct: Summary; proxy: Summary };
}

function fold(rounds: Summary[][], all: number[][]): Pick<LatencyRow, 'direct' | 'proxy' | 'pooled'> {
  return { direct: medianOfRounds(rounds[0]!), proxy: medianOfRounds(rounds[1]!), pooled: { direct: summarize(all[0]!), proxy: summarize(all[1]!) } };
}

export async function runLatency(o: LatencyOptions): Promise<LatencyRow[]> {
  const levels = o.levels ?? [50, 500];
  const rounds = o.rounds ?? 12;
  const pingMs = o.pingMs ?? 600;
  const setups = o.setups ?? 50;
  const rates = o.rates ?? { 50: 5_000, 500: 10_000 };
  const direct = new BenchChild('./driver-rtt.js');
  const proxy = new BenchChild('./driver-rtt.js');
  const rows: LatencyRow[] = [];
  try {
    await direct.request('init', { target: o.directTarget ?? { kind: 'fulcrum', zk: o.zk, root: o.root } });
    await proxy.request('init', { target: { kind: 'proxy', host: '127.0.0.1', port: o.haproxyPort } });
    const sides = [direct, proxy];
    for (const n of levels) {
      const rate = rates[n] ?? 10 * n;
      for (const d of sides) await d.request('open', { n });
      await new Promise((r) => setTimeout(r, 500)); // let the servers publish the new balances
      for (const d of sides) await d.request('ping', { durationMs: 1_000, rate }); // warm-up
      const lat: number[][] = [[], []];
      const per: Summary[][] = [[], []];
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) {
          const xs = await sides[i]!.request<number[]>('ping', { durationMs: pingMs, rate });
          for (const x of xs) lat[i]!.push(x);
          per[i]!.push(summarize(xs));
          if (o.verbose) console.log(`  ${n} conns round ${r} ${i === 0 ? 'direct' : 'haproxy'}: ${JSON.stringify(fmt(summarize(xs)))}`);
        }
      }
      for (const d of sides) await d.request('closeAll');
      rows.push({ label: `round trip, ${n} persistent connections, ${rate.toLocaleString('en-US')} pings/s`, ...fold(per, lat) });
    }
    if (setups === 0) return rows;
    const setup: number[][] = [[], []];
    const setupPer: Summary[][] = [[], []];
    for (const d of sides) await d.request('setup', { n: 30 }); // warm-up
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const xs = await sides[i]!.request<number[]>('setup', { n: setups });
        for (const x of xs) setup[i]!.push(x);
        setupPer[i]!.push(summarize(xs));
      }
    }
    // 50 setups per round are too few for a per-round p99: pool them.
    const folded = fold(setupPer, setup);
    rows.push({ label: 'connect → first pong (one at a time)', ...folded, direct: folded.pooled.direct, proxy: folded.pooled.proxy });
  } finally {
    await Promise.all([direct.stop(), proxy.stop()]);
  }
  return rows;
}

function fmt(s: Summary): Record<string, string | number> {
  return { n: s.n, p50: s.p50.toFixed(3), p99: s.p99.toFixed(3), p999: s.p999.toFixed(3) };
}

/** runLatency with a HAProxy of its own in front of the servers listening on `ports`, stopped after. */
export async function runLatencyBehindHaproxy(ports: readonly number[], o: Omit<LatencyOptions, 'haproxyPort'>): Promise<LatencyRow[]> {
  const proxy = new Haproxy({ backends: ports.map((port) => ({ host: '127.0.0.1', port })) });
  try {
    return await runLatency({ ...o, haproxyPort: await proxy.start() });
  } finally {
    await proxy.stop();
  }
}
