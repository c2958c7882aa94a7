import { InvalidArgumentError } from '../../errors.js';

/** Bytes a connection may have queued for its socket (written, not yet taken by the OS) before it is kicked as `slow`. @default 1 MiB */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
/** Rooms one connection may be in at once; a join beyond is refused (the connection stays). @default 100 */
export const DEFAULT_MAX_ROOMS_PER_CONNECTION = 100;
/** Frames per second a connection may send, `ack` not counted; a burst of one second's worth is allowed. @default 1000 */
export const DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND = 1_000;
/** Bytes per second a connection may send, every byte counted; a burst of one second's worth is allowed. @default 2 MiB */
export const DEFAULT_MAX_INBOUND_BYTES_PER_SECOND = 2 * 1024 * 1024;
/** How long a login waits for its route to be stored in ZooKeeper before it is refused. @default 10000 */
export const DEFAULT_WELCOME_TIMEOUT_MS = 10_000;
/** The smallest byte rate accepted: one socket read (64 KiB) must fit in the bucket. */
export const MIN_INBOUND_BYTES_PER_SECOND = 64 * 1024;

/** Per-connection bounds of a MessagingServer (all optional; see the defaults). */
export interface SessionLimitOptions {
  /** @default DEFAULT_MAX_QUEUED_BYTES (1 MiB) */
  maxQueuedBytes?: number;
  /** @default DEFAULT_MAX_ROOMS_PER_CONNECTION (100) */
  maxRoomsPerConnection?: number;
  /** @default DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND (1000) */
  maxInboundFramesPerSecond?: number;
  /** At least MIN_INBOUND_BYTES_PER_SECOND (65536). @default DEFAULT_MAX_INBOUND_BYTES_PER_SECOND (2 MiB) */
  maxInboundBytesPerSecond?: number;
  /** @default DEFAULT_WELCOME_TIMEOUT_MS (10000) */
  welcomeTimeoutMs?: number;
}

export type SessionLimits = Required<SessionLimitOptions>;

/** Where each limit's value must lie (the CLI flags share these bounds). */
export const SESSION_LIMIT_RANGES: Record<keyof SessionLimits, readonly [min: number, max: number]> = {
  maxQueuedBytes: [1_024, 2 ** 31 - 1],
  maxRoomsPerConnection: [1, 1_000_000],
  maxInboundFramesPerSecond: [1, 10_000_000],
  maxInboundBytesPerSecond: [MIN_INBOUND_BYTES_PER_SECOND, 2 ** 31 - 1],
  welcomeTimeoutMs: [1, 600_000],
};

/** The limits with defaults filled in; InvalidArgumentError names the first value out of range. */
export function resolveSessionLimits(o: SessionLimitOptions = {}): SessionLimits {
  const limits: SessionLimits = {
    maxQueuedBytes: o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
    maxRoomsPerConnection: o.maxRoomsPerConnection ?? DEFAULT_MAX_ROOMS_PER_CONNECTION,
    maxInboundFramesPerSecond: o.maxInboundFramesPerSecond ?? DEFAULT_MAX_INBOUND_FRAMES_PER_SECOND,
    maxInboundBytesPerSecond: o.maxInboundBytesPerSecond ?? DEFAULT_MAX_INBOUND_BYTES_PER_SECOND,
    welcomeTimeoutMs: o.welcomeTimeoutMs ?? DEFAULT_WELCOME_TIMEOUT_MS,
  };
  for (const [name, [min, max]] of Object.entries(SESSION_LIMIT_RANGES) as [keyof SessionLimits, readonly [number, number]][]) {
    const v = limits[name];
    if (!Number.isInteger(v) || v < min || v > max) throw InvalidArgumentError.format(name, `must be an integer from ${min} to ${max}, got ${v}`);
  }
  return limits;
}
