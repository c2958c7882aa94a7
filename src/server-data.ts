import { Packr, Unpackr } from 'msgpackr';
import { MalformedServerDataError } from './errors.js';

/**
 * What each server publishes in its ephemeral node: a plain MessagePack map that any
 * MessagePack library in any language can decode.
 */
export interface ServerData {
  /** Address clients connect to; never a wildcard address. */
  ip: string;
  port: number;
  /** Live client connections of this server. */
  balance: number;
  id?: string;
  startedAt?: number;
  updatedAt?: number;
  maxConnections?: number;
  draining?: boolean;
  /** Messaging gateway (routers and peer servers deliver here); absent on servers without messaging. */
  gatewayIp?: string;
  gatewayPort?: number;
  /**
   * Connections accepted per second over the last ACCEPT_RATE_WINDOW_MS, as of `updatedAt`.
   * Lets independent pickers estimate how many others pick on the same picture (water-fill).
   */
  acceptRate?: number;
  /** The message history this server's messaging uses (`memory`, `redis`); absent without history. */
  history?: string;
  /**
   * What the client port accepts: `tcp` (raw length-prefixed frames) and `ws` (a WebSocket upgrade
   * at `/ws`). Absent: `['tcp']` (servers from before WebSocket, heartbeat servers).
   */
  transports?: string[];
  /** The client port speaks TLS (raw frames and wss). */
  tls?: boolean;
  /** The messaging gateway speaks TLS. */
  gatewayTls?: boolean;
}

/** Longest `transports` list and name a reader accepts. */
const MAX_TRANSPORTS = 8;
const MAX_TRANSPORT_NAME = 16;

/** The transports a server accepts (`['tcp']` when it does not say). */
export function transportsOf(data: Pick<ServerData, 'transports'>): readonly string[] {
  return data.transports ?? ['tcp'];
}

/** Window over which a server measures `acceptRate`; short, so a burst shows within a few writes. */
export const ACCEPT_RATE_WINDOW_MS = 250;

// useRecords:false keeps the bytes standard MessagePack (no msgpackr record extension).
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

export function encodeServerData(data: ServerData): Buffer {
  return packr.pack(data);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** Checks a decoded value; throws MalformedServerDataError naming the first bad field. */
export function validateServerData(v: unknown): ServerData {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MalformedServerDataError('not a map');
  const o = v as Record<string, unknown>;
  if (typeof o.ip !== 'string' || WILDCARDS.has(o.ip)) throw new MalformedServerDataError(`bad ip ${JSON.stringify(o.ip)}`);
  if (!isNonNegInt(o.port) || o.port < 1 || o.port > 65535) throw new MalformedServerDataError(`bad port ${String(o.port)}`);
  if (!isNonNegInt(o.balance)) throw new MalformedServerDataError(`bad balance ${String(o.balance)}`);
  if (o.maxConnections !== undefined && o.maxConnections !== null && !isNonNegInt(o.maxConnections)) {
    throw new MalformedServerDataError(`bad maxConnections ${String(o.maxConnections)}`);
  }
  if (o.draining !== undefined && typeof o.draining !== 'boolean') throw new MalformedServerDataError('bad draining');
  if (o.gatewayIp !== undefined && o.gatewayIp !== null && (typeof o.gatewayIp !== 'string' || WILDCARDS.has(o.gatewayIp))) throw new MalformedServerDataError(`bad gatewayIp ${JSON.stringify(o.gatewayIp)}`);
  if (o.gatewayPort !== undefined && o.gatewayPort !== null && (!isNonNegInt(o.gatewayPort) || o.gatewayPort < 1 || o.gatewayPort > 65535)) throw new MalformedServerDataError(`bad gatewayPort ${String(o.gatewayPort)}`);
  if (o.acceptRate !== undefined && o.acceptRate !== null && !(typeof o.acceptRate === 'number' && Number.isFinite(o.acceptRate) && o.acceptRate >= 0)) {
    throw new MalformedServerDataError(`bad acceptRate ${String(o.acceptRate)}`);
  }
  if (o.transports !== undefined && o.transports !== null) {
    const t = o.transports;
    if (!Array.isArray(t) || t.length === 0 || t.length > MAX_TRANSPORTS || !t.every((x) => typeof x === 'string' && x.length > 0 && x.length <= MAX_TRANSPORT_NAME)) {
      throw new MalformedServerDataError(`bad transports ${JSON.stringify(t)}`);
    }
  }
  for (const flag of ['tls', 'gatewayTls'] as const) {
    if (o[flag] !== undefined && o[flag] !== null && typeof o[flag] !== 'boolean') throw new MalformedServerDataError(`bad ${flag}`);
  }
  const out: ServerData = { ip: o.ip, port: o.port, balance: o.balance };
  if (typeof o.id === 'string') out.id = o.id;
  if (typeof o.startedAt === 'number') out.startedAt = o.startedAt;
  if (typeof o.updatedAt === 'number') out.updatedAt = o.updatedAt;
  if (isNonNegInt(o.maxConnections)) out.maxConnections = o.maxConnections;
  if (o.draining === true) out.draining = true;
  if (typeof o.gatewayIp === 'string' && typeof o.gatewayPort === 'number') {
    out.gatewayIp = o.gatewayIp;
    out.gatewayPort = o.gatewayPort;
  }
  if (typeof o.acceptRate === 'number' && o.acceptRate > 0) out.acceptRate = o.acceptRate;
  if (typeof o.history === 'string' && o.history.length > 0 && o.history.length <= 32) out.history = o.history;
  if (Array.isArray(o.transports)) out.transports = [...(o.transports as string[])];
  if (o.tls === true) out.tls = true;
  if (o.gatewayTls === true) out.gatewayTls = true;
  return out;
}

export function decodeServerData(buf: Buffer): ServerData {
  let v: unknown;
  try {
    v = unpackr.unpack(buf);
  } catch (cause) {
    throw new MalformedServerDataError('not MessagePack', { cause });
  }
  return validateServerData(v);
}
