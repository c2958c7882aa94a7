import { addressOf, type ServerInfo, type Snapshot } from '../discovery/snapshot.js';
import type { ServerSummary } from './event-payload.js';

export type { ServerSummary } from './event-payload.js';

/**
 * Pure read-outs of a snapshot that the HTTP routes, the event stream and the metrics share,
 * so the three never disagree about what "live" or "spread" means.
 */

/** Load as the alloc service sees it: reported balance plus its own unreported hand-outs. */
export function effectiveBalance(s: Readonly<ServerInfo>, pending: ReadonlyMap<string, number>): number {
  return s.balance + (pending.get(s.name) ?? 0);
}

/** Not draining and not full (counting reservations): the same filter the balance provider applies. */
export function canTakeConnection(s: Readonly<ServerInfo>, pending: ReadonlyMap<string, number>): boolean {
  return !s.draining && (s.maxConnections === undefined || effectiveBalance(s, pending) < s.maxConnections);
}

/** Servers that can take a connection, least-loaded first (ties by name, so the order is stable). */
export function allocOrder(snapshot: Snapshot, pending: ReadonlyMap<string, number>): Readonly<ServerInfo>[] {
  return snapshot.servers
    .filter((s) => canTakeConnection(s, pending))
    .sort((a, b) => effectiveBalance(a, pending) - effectiveBalance(b, pending) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The classic alloc answer: `ip:port,ip:port,…` (IPv6 bracketed). */
export function allocList(snapshot: Snapshot, pending: ReadonlyMap<string, number>): string {
  return allocOrder(snapshot, pending)
    .map((s) => addressOf(s))
    .join(',');
}

/**
 * max − min of the reported balances of servers not draining (a draining server sheds
 * connections on purpose and would make an even cluster look uneven). 0 with fewer than two.
 */
export function spreadOf(snapshot: Snapshot): number {
  let min = Infinity;
  let max = -Infinity;
  for (const s of snapshot.servers) {
    if (s.draining) continue;
    if (s.balance < min) min = s.balance;
    if (s.balance > max) max = s.balance;
  }
  return max >= min ? max - min : 0;
}

export function totalConnections(snapshot: Snapshot): number {
  let total = 0;
  for (const s of snapshot.servers) total += s.balance;
  return total;
}

export function summarize(s: Readonly<ServerInfo>): ServerSummary {
  return { name: s.name, ip: s.ip, port: s.port, balance: s.balance, draining: s.draining === true, maxConnections: s.maxConnections ?? null };
}
