import net from 'node:net';
import { addressOf } from '../discovery/snapshot.js';
import { BadRequestError } from './http-errors.js';

/** How long a heartbeat keeps a server registered when the body names no ttlMs. */
export const DEFAULT_HEARTBEAT_TTL_MS = 10_000;
/** Below this a heartbeat could not arrive in time over a real network. */
export const MIN_HEARTBEAT_TTL_MS = 1_000;
/** Above this a dead server would be handed out for too long. */
export const MAX_HEARTBEAT_TTL_MS = 300_000;

/** A validated `POST /register` body. */
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

const HEARTBEAT_FIELDS = new Set(['ip', 'port', 'balance', 'maxConnections', 'draining', 'ttlMs']);
const ENDPOINT_FIELDS = new Set(['ip', 'port']);

function asObject(body: unknown, allowed: ReadonlySet<string>): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('body must be a JSON object');
  const o = body as Record<string, unknown>;
  // Strict: a typo such as "balnce" must fail loudly instead of registering balance 0.
  for (const k of Object.keys(o)) if (!allowed.has(k)) throw BadRequestError.field(k, 'is not a known field');
  return o;
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
}

/**
 * A literal IPv4/IPv6 address clients can connect to, in canonical form so that two spellings
 * of one address name one server. Host names, zone ids and wildcards are refused.
 */
export function canonicalIp(v: unknown, field = 'ip'): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) throw BadRequestError.field(field, 'must be an IPv4 or IPv6 address string');
  if (v.includes('%')) throw BadRequestError.field(field, 'must not carry a zone id');
  const kind = net.isIP(v);
  if (kind === 0) throw BadRequestError.field(field, `must be an IPv4 or IPv6 address, got ${JSON.stringify(v)}`);
  const ip = kind === 6 ? new URL(`http://[${v}]/`).hostname.slice(1, -1) : v;
  if (ip === '0.0.0.0' || ip === '::') throw BadRequestError.field(field, `must be a reachable address, not the wildcard ${v}`);
  return ip;
}

function port(v: unknown): number {
  if (!isInt(v, 1, 65535)) throw BadRequestError.field('port', `must be an integer between 1 and 65535, got ${JSON.stringify(v)}`);
  return v;
}

function optional(o: Record<string, unknown>, k: string): unknown {
  // null is how many JSON encoders write "absent".
  return o[k] === null ? undefined : o[k];
}

/** Validates a heartbeat body; throws BadRequestError naming the first bad field. */
export function parseHeartbeat(body: unknown, defaultTtlMs = DEFAULT_HEARTBEAT_TTL_MS): HeartbeatRequest {
  const o = asObject(body, HEARTBEAT_FIELDS);
  if (!('ip' in o)) throw BadRequestError.field('ip', 'is required');
  if (!('port' in o)) throw BadRequestError.field('port', 'is required');
  if (!('balance' in o)) throw BadRequestError.field('balance', 'is required');
  const out: HeartbeatRequest = { ip: canonicalIp(o.ip), port: port(o.port), balance: 0, ttlMs: defaultTtlMs };
  if (!isInt(o.balance, 0, Number.MAX_SAFE_INTEGER)) throw BadRequestError.field('balance', `must be an integer >= 0, got ${JSON.stringify(o.balance)}`);
  out.balance = o.balance;
  const max = optional(o, 'maxConnections');
  if (max !== undefined) {
    if (!isInt(max, 0, Number.MAX_SAFE_INTEGER)) throw BadRequestError.field('maxConnections', `must be an integer >= 0, got ${JSON.stringify(max)}`);
    out.maxConnections = max;
  }
  const draining = optional(o, 'draining');
  if (draining !== undefined) {
    if (typeof draining !== 'boolean') throw BadRequestError.field('draining', `must be a boolean, got ${JSON.stringify(draining)}`);
    if (draining) out.draining = true;
  }
  const ttl = optional(o, 'ttlMs');
  if (ttl !== undefined) {
    if (!isInt(ttl, MIN_HEARTBEAT_TTL_MS, MAX_HEARTBEAT_TTL_MS)) {
      throw BadRequestError.field('ttlMs', `must be an integer between ${MIN_HEARTBEAT_TTL_MS} and ${MAX_HEARTBEAT_TTL_MS}, got ${JSON.stringify(ttl)}`);
    }
    out.ttlMs = ttl;
  }
  return out;
}

/** Validates a `POST /unregister` body `{ip, port}`. */
export function parseEndpoint(body: unknown): Endpoint {
  const o = asObject(body, ENDPOINT_FIELDS);
  return { ip: canonicalIp(o.ip), port: port(o.port) };
}

/** Parses the `{ip}:{port}` path segment of `DELETE /register/…`; IPv6 may be bracketed. */
export function parseAddress(text: string): Endpoint {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)|([0-9A-Fa-f:.]+)):(\d{1,5})$/.exec(text);
  if (!m) throw BadRequestError.field('address', `must be ip:port or [ipv6]:port, got ${JSON.stringify(text)}`);
  return { ip: canonicalIp(m[1] ?? m[2] ?? m[3], 'address'), port: port(Number(m[4])) };
}

/** Node name of a heartbeat server: the same `ip:port` (`[v6]:port`) a native server uses. */
export function serverName(e: Endpoint): string {
  return addressOf(e);
}
