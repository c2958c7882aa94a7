import type { ServerData } from '../server-data.js';

/** One live server as discovery sees it: its node name plus its published data. */
export interface ServerInfo extends ServerData {
  /** Znode name under the root; unique per live server. */
  readonly name: string;
}

/** A server that left discovery recently, with the connections it held: they are about to re-home. */
export interface DepartedServer {
  readonly name: string;
  /** Its last published balance. */
  readonly balance: number;
  /** Epoch ms when its node disappeared. */
  readonly at: number;
}

/**
 * The momentary picture of the cluster. Immutable: a change produces a new snapshot,
 * so strategies can be pure functions of it.
 */
export interface Snapshot {
  readonly servers: readonly Readonly<ServerInfo>[];
  /** Increases with every change the producer saw. */
  readonly version: number;
  /** Epoch ms when this picture was taken (for a one-shot read: when the read began). */
  readonly at: number;
  /**
   * Kept current by watches (the cache): it shows the cluster as of now, give or take the
   * propagation delay, however long ago `at` is. A one-shot read is not live: it ages.
   */
  readonly live?: boolean;
  /** Servers that disappeared shortly before this picture, if the producer remembers them. */
  readonly departed?: readonly DepartedServer[];
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({ servers: Object.freeze([]), version: 0, at: 0 });

export interface SnapshotExtras {
  /** @default false */
  live?: boolean;
  /** @default none */
  departed?: readonly DepartedServer[];
}

export function makeSnapshot(servers: Iterable<ServerInfo>, version: number, at = Date.now(), extras: SnapshotExtras = {}): Snapshot {
  const list = [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((s) => Object.freeze({ ...s }));
  const snap: { servers: readonly Readonly<ServerInfo>[]; version: number; at: number; live?: boolean; departed?: readonly DepartedServer[] } = { servers: Object.freeze(list), version, at };
  if (extras.live) snap.live = true;
  if (extras.departed && extras.departed.length > 0) snap.departed = Object.freeze(extras.departed.map((d) => Object.freeze({ ...d })));
  return Object.freeze(snap);
}

/** How long a source remembers a departed server; its clients re-home well within this. */
export const DEFAULT_DEPARTED_MEMORY_MS = 5_000;

/**
 * Remembers servers that left between two pictures, with their last balance, for
 * DEFAULT_DEPARTED_MEMORY_MS. Feed it every new server list in order.
 */
export class DepartedMemory {
  private readonly gone = new Map<string, DepartedServer>();
  private last = new Map<string, number>();

  constructor(private readonly memoryMs = DEFAULT_DEPARTED_MEMORY_MS) {}

  /** Takes the next list of live servers and returns the departed ones still remembered at `now`. */
  observe(servers: readonly ServerInfo[], now = Date.now()): DepartedServer[] {
    const next = new Map<string, number>();
    for (const s of servers) {
      next.set(s.name, s.balance);
      this.gone.delete(s.name); // back (re-registered): its clients did not leave
    }
    for (const [name, balance] of this.last) if (!next.has(name)) this.gone.set(name, { name, balance, at: now });
    this.last = next;
    for (const [name, d] of this.gone) if (now - d.at > this.memoryMs) this.gone.delete(name);
    return [...this.gone.values()];
  }
}

/** Where a client gets its picture of the cluster: a one-shot read, or the watch-driven cache. */
export interface ServerSource {
  snapshot(): Promise<Snapshot>;
}

/** `host:port` of a server, bracketing IPv6 addresses. */
export function addressOf(s: { ip: string; port: number }): string {
  return s.ip.includes(':') ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
}
