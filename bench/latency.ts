// Round trip and connect → first pong, measured on several sides at once: fulcrum (clients
// connect straight to the least-loaded server), HAProxy leastconn in front of the same server
// processes, and the same pair over plain net.Servers with plain connects (the limit). Same driver
// code for every side, each side's driver in its own process, rounds interleaved.
import { BenchChild } from './child-ipc.js';
import { Haproxy } from './haproxy.js';
import { medianOfRounds, summarize, type Summary } from './percentiles.js';

/** What one side's driver connects to (see driver-rtt.ts). */
export type RttTarget = { kind: 'fulcrum'; zk: string; root: string } | { kind: 'proxy'; host: string; port: number } | { kind: 'list'; addresses: { host: string; port: number }[] };

export interface Side {
  name: string;
  target: RttTarget;
}

/** Persistent connection counts the round trip is measured at. */
export const LATENCY_LEVELS = [50, 500, 5_000];
/** Pings per second offered in total at each level. */
export const LATENCY_RATES: Record<number, number> = { 50: 5_000, 500: 10_000, 5_000: 10_000 };

export interface LatencyOptions {
  /** Persistent connection counts to measure. @default LATENCY_LEVELS */
  levels?: number[];
  /** Interleaved rounds per level. @default 12 */
  rounds?: number;
  /** Ping time per side per round. @default 600 */
  pingMs?: number;
  /** Pings per second offered in total, by connection count. @default LATENCY_RATES */
  rates?: Record<number, number>;
  /** Fresh connects per side per round for connect → first pong; 0 leaves that part out. @default 100 */
  setups?: number;
  verbose?: boolean;
}

export interface LatencyRow {
  label: string;
  /** Persistent connections of a round-trip row; undefined for connect → first pong. */
  connections?: number;
  /** By side: the median over rounds of each round's percentiles (connect → first pong: pooled). */
  sides: Record<string, Summary>;
  /** By side: every sample of every round pooled. */
  pooled: Record<string, Summary>;
}

function fmt(s: Summary): Record<string, string | number> {
  return { n: s.n, p50: s.p50.toFixed(3), p99: s.p99.toFixed(3), p999: s.p999.toFixed(3) };
}

/** Round r visits the sides in a rotated order, alternating direction, so no side always goes first. */
function order(n: number, r: number): number[] {
  const out = Array.from({ length: n }, (_, i) => (i + r) % n);
  return r % 2 === 0 ? out : out.reverse();
}

export async function runLatency(sides: readonly Side[], o: LatencyOptions = {}): Promise<LatencyRow[]> {
  const levels = o.levels ?? LATENCY_LEVELS;
  const rounds = o.rounds ?? 12;
  const pingMs = o.pingMs ?? 600;
  const setups = o.setups ?? 100;
  const rates = o.rates ?? LATENCY_RATES;
  const drivers = sides.map(() => new BenchChild('./driver-rtt.js'));
  const rows: LatencyRow[] = [];
  const fold = (per: Summary[][], all: number[][], pooledOnly: boolean): Pick<LatencyRow, 'sides' | 'pooled'> => {
    const out: Pick<LatencyRow, 'sides' | 'pooled'> = { sides: {}, pooled: {} };
    sides.forEach((s, i) => {
      out.pooled[s.name] = summarize(all[i]!);
      out.sides[s.name] = pooledOnly ? out.pooled[s.name]! : medianOfRounds(per[i]!);
    });
    return out;
  };
  try {
    for (const [i, d] of drivers.entries()) await d.request('init', { target: sides[i]!.target });
    for (const n of levels) {
      const rate = rates[n] ?? 10 * n;
      for (const d of drivers) await d.request('open', { n });
      await new Promise((r) => setTimeout(r, 500)); // let the servers publish the new balances
      for (const d of drivers) await d.request('ping', { durationMs: 1_000, rate }); // warm-up
      const all = sides.map((): number[] => []);
      const per = sides.map((): Summary[] => []);
      for (let r = 0; r < rounds; r++) {
        for (const i of order(sides.length, r)) {
          const xs = await drivers[i]!.request<number[]>('ping', { durationMs: pingMs, rate });
          for (const x of xs) all[i]!.push(x);
          per[i]!.push(summarize(xs));
          if (o.verbose) console.log(`  ${n} conns round ${r} ${sides[i]!.name}: ${JSON.stringify(fmt(summarize(xs)))}`);
        }
      }
      for (const d of drivers) await d.request('closeAll');
      rows.push({ label: `round trip, ${n.toLocaleString('en-US')} persistent connections, ${rate.toLocaleString('en-US')} pings/s`, connections: n, ...fold(per, all, false) });
    }
    if (setups === 0) return rows;
    const all = sides.map((): number[] => []);
    for (const d of drivers) await d.request('setup', { n: 30 }); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const i of order(sides.length, r)) for (const x of await drivers[i]!.request<number[]>('setup', { n: setups })) all[i]!.push(x);
    }
    // A round's setups are too few for a per-round p99: pool them.
    rows.push({ label: 'connect → first pong (one at a time)', ...fold([], all, true) });
  } finally {
    await Promise.all(drivers.map((d) => d.stop()));
  }
  return rows;
}

/** A HAProxy leastconn in front of the servers listening on `ports`, for the duration of `fn`. */
export async function withHaproxy<T>(ports: readonly number[], fn: (port: number) => Promise<T>): Promise<T> {
  const proxy = new Haproxy({ backends: ports.map((port) => ({ host: '127.0.0.1', port })) });
  try {
    return await fn(await proxy.start());
  } finally {
    await proxy.stop();
  }
}
