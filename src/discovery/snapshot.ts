import type { ServerData } from '../server-data.js';

/** One live server as discovery sees it: its node name plus its published data. */
export interface ServerInfo extends ServerData {
  /** Znode name under the root; unique per live server. */
  readonly name: string;
}

/**
 * The momentary picture of the cluster. Immutable: a change produces a new snapshot,
 * so strategies can be pure functions of it.
 */
export interface Snapshot {
  readonly servers: readonly Readonly<ServerInfo>[];
  /** Increases with every change the producer saw. */
  readonly version: number;
  /** Epoch ms when this picture was taken. */
  readonly at: number;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({ servers: Object.freeze([]), version: 0, at: 0 });

export function makeSnapshot(servers: Iterable<ServerInfo>, version: number, at = Date.now()): Snapshot {
  const list = [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((s) => Object.freeze({ ...s }));
  return Object.freeze({ servers: Object.freeze(list), version, at });
}

/** Where a client gets its picture of the cluster: a one-shot read, or the watch-driven cache. */
export interface ServerSource {
  snapshot(): Promise<Snapshot>;
}

/** `host:port` of a server, bracketing IPv6 addresses. */
export function addressOf(s: { ip: string; port: number }): string {
  return s.ip.includes(':') ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
}
