import net from 'node:net';
import { addressOf } from '../discovery/snapshot.js';

/** How long a heartbeat keeps a server registered when the body names no ttlMs. */
export const DEFAULT_HEARTBEAT_TTL_MS = 10_000;
/** Below this a heartbeat could not arrive in time over a real network. */
export const MIN_HEARTBEAT_TTL_MS = 1_000;
/** Above this a dead server would be handed out for too long. */
export const MAX_HEARTBEAT_TTL_MS = 300_000;

/** A `POST /register` body after validation (see the route's schema) and normalisation. */
export interface HeartbeatRequest {
  /** Canonical address (IPv6 lower-case and compressed). */
  ip: string;
  port: number;
  /** Live connections of the server, absolute (not a delta): a lost heartbeat cannot skew it. */
  balance: number;
  maxConnections?: number;
  draining?: boolean;
  ttlMs: number;
}

export interface Endpoint {
  ip: string;
  port: number;
}

/**
 * A literal IPv4/IPv6 address clients can connect to, in canonical form so that two spellings
 * of one address name one server; undefined for host names, zone ids and wildcards.
 */
export function canonicalIpOrUndefined(v: string): string | undefined {
  if (v.length === 0 || v.length > 64 || v.includes('%')) return undefined;
  const kind = net.isIP(v);
  if (kind === 0) return undefined;
  const ip = kind === 6 ? new URL(`http://[${v}]/`).hostname.slice(1, -1) : v;
  return ip === '0.0.0.0' || ip === '::' ? undefined : ip;
}

/** The canonical form of an address the schema already accepted. */
export function canonicalIp(v: string): string {
  const ip = canonicalIpOrUndefined(v);
  if (ip === undefined) throw new TypeError(`not a connectable address: ${JSON.stringify(v)}`);
  return ip;
}

/** The `{ip}:{port}` of `DELETE /register/…` (IPv6 may be bracketed), or undefined. */
export function parseAddressOrUndefined(text: string): Endpoint | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)|([0-9A-Fa-f:.]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const ip = canonicalIpOrUndefined((m[1] ?? m[2] ?? m[3])!);
  const port = Number(m[4]);
  return ip === undefined || port < 1 || port > 65535 ? undefined : { ip, port };
}

/** Node name of a heartbeat server: the same `ip:port` (`[v6]:port`) a native server uses. */
export function serverName(e: Endpoint): string {
  return addressOf(e);
}
