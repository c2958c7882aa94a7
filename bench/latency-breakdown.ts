// Where the direct round trip goes on a small machine: the same 50 paced connections with fewer
// fulcrum server processes, each beside HAProxy in front of the same servers.
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { runLatency, withHaproxy, type LatencyRow } from './latency.js';

export interface BreakdownRow {
  label: string;
  row: LatencyRow;
}

const LEVEL = 50;
const ROUNDS = 8;

export async function runLatencyBreakdown(zk: string, root: string): Promise<BreakdownRow[]> {
  const out: BreakdownRow[] = [];
  for (const count of [1, 2]) {
    const runner = new ServerRunner({ count, zk, root: `${root}-${count}`, host: '127.0.0.1', logLevel: 'warn' });
    try {
      const servers = await runner.start();
      const rows = await withHaproxy(servers.map((s) => s.port), (port) =>
        runLatency([{ name: 'direct', target: { kind: 'fulcrum', zk, root: `${root}-${count}` } }, { name: 'proxy', target: { kind: 'proxy', host: '127.0.0.1', port } }], { levels: [LEVEL], rounds: ROUNDS, setups: 0 }),
      );
      out.push({ label: `fulcrum, ${count} server process${count > 1 ? 'es' : ''}`, row: rows[0]! });
    } finally {
      await runner.stop();
    }
  }
  return out;
}
