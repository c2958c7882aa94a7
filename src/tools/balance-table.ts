import type { Snapshot } from '../discovery/snapshot.js';
import { addressOf } from '../discovery/snapshot.js';

export interface Spread {
  servers: number;
  total: number;
  min: number;
  max: number;
  mean: number;
  /** max - min */
  spread: number;
  /** (max - min) / mean; 0 when empty. */
  relative: number;
}

export function spreadOf(balances: readonly number[]): Spread {
  if (balances.length === 0) return { servers: 0, total: 0, min: 0, max: 0, mean: 0, spread: 0, relative: 0 };
  const total = balances.reduce((a, b) => a + b, 0);
  const min = Math.min(...balances);
  const max = Math.max(...balances);
  const mean = total / balances.length;
  return { servers: balances.length, total, min, max, mean, spread: max - min, relative: mean > 0 ? (max - min) / mean : 0 };
}

export function formatSpread(s: Spread): string {
  return `servers ${s.servers} · connections ${s.total} · min ${s.min} · max ${s.max} · spread ${s.spread} (${(s.relative * 100).toFixed(1)}% of mean)`;
}

/** A plain-text table of every server's balance with a bar scaled to the busiest one. */
export function renderBalanceTable(snapshot: Snapshot, width = 40): string {
  const rows = snapshot.servers;
  const top = Math.max(1, ...rows.map((s) => s.balance));
  const nameW = Math.max(6, ...rows.map((s) => addressOf(s).length));
  const lines = [`${'server'.padEnd(nameW)}  balance  ${'load'.padEnd(width)}  state`];
  for (const s of rows) {
    const bar = '#'.repeat(Math.round((s.balance / top) * width));
    const state = s.draining ? 'draining' : s.maxConnections !== undefined ? `max ${s.maxConnections}` : '';
    lines.push(`${addressOf(s).padEnd(nameW)}  ${String(s.balance).padStart(7)}  ${bar.padEnd(width)}  ${state}`);
  }
  if (rows.length === 0) lines.push('(no servers registered)');
  lines.push(formatSpread(spreadOf(rows.map((s) => s.balance))));
  return lines.join('\n');
}
