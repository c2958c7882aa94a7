// Connect throughput at 1, 8 and 64 connects in flight: a fulcrum ClusterServer (registered in
// ZooKeeper, balance updates on) vs a plain net.Server with the same no-op handler. Each server
// and the driver run in their own processes; rounds alternate.
import { BenchChild } from './child-ipc.js';
import type { ConnectRound } from './driver-connect.js';
import { median } from './percentiles.js';

export interface ConnectRateOptions {
  zk: string;
  root: string;
  /** @default [1, 8, 64] */
  concurrency?: number[];
  /** Connects per round. @default 3000 */
  total?: number;
  /** @default 5 */
  rounds?: number;
  /** Count a connect at its pong, or (the old, capped method) at the handshake. @default 'pong' */
  until?: 'pong' | 'handshake';
  verbose?: boolean;
}

export interface ConnectRateRow {
  concurrency: number;
  plain: number;
  fulcrum: number;
  /** Balance writes the fulcrum server made over all its rounds, and the connection events they covered. */
  writes: number;
  events: number;
  /** Connects that waited out a SYN retransmit (over 900 ms), plain and fulcrum, all rounds. */
  synStalls: { plain: number; fulcrum: number };
}

export async function runConnectRate(o: ConnectRateOptions): Promise<ConnectRateRow[]> {
  const total = o.total ?? 3_000;
  const rounds = o.rounds ?? 5;
  const plain = new BenchChild('./server-plain.js');
  const fulcrum = new BenchChild('./server-plain.js');
  const driver = new BenchChild('./driver-connect.js');
  const rows: ConnectRateRow[] = [];
  try {
    const plainPort = await plain.request<number>('listen', { kind: 'plain' });
    const fulcrumPort = await fulcrum.request<number>('listen', { kind: 'fulcrum', zk: o.zk, root: o.root });
    for (const port of [plainPort, fulcrumPort]) await driver.request('connects', { port, total: 500, concurrency: 8 }); // warm-up
    for (const port of [plainPort, fulcrumPort]) await driver.request('connects', { port, total: 500, concurrency: 8 });
    let before = (await fulcrum.request<{ writes: number; events: number }>('stats'))!;
    for (const concurrency of o.concurrency ?? [1, 8, 64]) {
      const p: number[] = [];
      const f: number[] = [];
      const stalls = [0, 0];
      for (let r = 0; r < rounds; r++) {
        const order: [number, number[], number][] = r % 2 === 0 ? [[plainPort, p, 0], [fulcrumPort, f, 1]] : [[fulcrumPort, f, 1], [plainPort, p, 0]];
        for (const [port, out, side] of order) {
          const res = await driver.request<ConnectRound>('connects', { port, total, concurrency, until: o.until ?? 'pong' });
          out.push(res.rate);
          stalls[side]! += res.synStalls;
        }
        if (o.verbose) console.log(`  c=${concurrency} round ${r}: plain ${p.at(-1)!.toFixed(0)} fulcrum ${f.at(-1)!.toFixed(0)}`);
      }
      const after = (await fulcrum.request<{ writes: number; events: number }>('stats'))!;
      rows.push({ concurrency, plain: median(p), fulcrum: median(f), writes: after.writes - before.writes, events: after.events - before.events, synStalls: { plain: stalls[0]!, fulcrum: stalls[1]! } });
      before = after;
    }
  } finally {
    await fulcrum.request('close').catch(() => {});
    await Promise.all([plain.stop(), fulcrum.stop(), driver.stop()]);
  }
  return rows;
}
