// Where the direct path's round trip goes on a small machine: the same 50 paced connections with
// fewer fulcrum server processes, and with plain net.Servers (no fulcrum on either end), each
// beside HAProxy in front of the same servers.
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { BenchChild } from './child-ipc.js';
import { runLatencyBehindHaproxy, type LatencyRow } from './latency.js';

export interface BreakdownRow {
  label: string;
  row: LatencyRow;
}

const LEVEL = 50;
const ROUNDS = 8;

async function measure(zk: string, root: string, ports: number[], directTarget?: Record<string, unknown>): Promise<LatencyRow> {
  const rows = await runLatencyBehindHaproxy(ports, { zk, root, directTarget, levels: [LEVEL], rounds: ROUNDS, setups: 0 });
  return rows[0]!;
}

export async function runLatencyBreakdown(zk: string, root: string): Promise<BreakdownRow[]> {
  const out: BreakdownRow[] = [];
  for (const count of [1, 2]) {
    const runner = new ServerRunner({ count, zk, root: `${root}-${count}`, host: '127.0.0.1', logLevel: 'warn' });
    try {
      const servers = await runner.start();
      out.push({ label: `fulcrum, ${count} server process${count > 1 ? 'es' : ''}`, row: await measure(zk, `${root}-${count}`, servers.map((s) => s.port)) });
    } finally {
      await runner.stop();
    }
  }
  const plain = Array.from({ length: 5 }, () => new BenchChild('./server-plain.js'));
  try {
    const ports = await Promise.all(plain.map((k) => k.request<number>('listen', { kind: 'plain' })));
    const addresses = ports.map((port) => ({ host: '127.0.0.1', port }));
    out.push({ label: '5 plain net.Server processes, plain connects', row: await measure(zk, root, ports, { kind: 'list', addresses }) });
  } finally {
    await Promise.all(plain.map((k) => k.stop()));
  }
  return out;
}
