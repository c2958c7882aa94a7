// One interface for message history, whatever keeps it (memory for one process, Redis Streams for
// a cluster); modelled on centrifuge's Broker: an append returns the stream position, a read takes
// a position and says whether the whole gap after it was still held.
import { InvalidArgumentError } from '../../errors.js';
import type { MessageId, StreamPosition } from '../../protocol/messages.js';

export { isStreamPosition, type StreamPosition } from '../../protocol/messages.js';

/** A user's stream holds the pushes and private messages to that user; a room's its publications. */
export type StreamKind = 'user' | 'room';

export interface StreamRef {
  kind: StreamKind;
  name: string;
}

export const userStream = (name: string): StreamRef => ({ kind: 'user', name });
export const roomStream = (name: string): StreamRef => ({ kind: 'room', name });

/** What is stored per message. */
export interface NewEntry {
  id: MessageId;
  body: unknown;
  from?: string;
}

export interface HistoryEntry extends NewEntry {
  offset: number;
  /** When the store took it (ms since the epoch, the store's clock). */
  at: number;
}

/**
 * Where a read starts: after a position (a different epoch reads the whole stream and is not a
 * recovery), after an offset of the current epoch, after the user's acked cursor, from the oldest
 * message held, or nowhere (`top`: the position only).
 */
export type ReadFrom = { position: StreamPosition } | { offset: number } | 'acked' | 'start' | 'top';

export interface ReadOptions {
  from: ReadFrom;
  /** Most entries returned (0 with `top`). */
  limit: number;
}

export interface HistoryPage {
  /** The stream's epoch now. */
  epoch: string;
  /** The stream's last offset now (0: nothing was ever appended in this epoch). */
  offset: number;
  /** The offset the read started after (entries have larger ones). */
  after: number;
  /**
   * Every message after the requested position is still held (the first entry, if any, is
   * `after + 1`) and the epoch is the requested one. False: some of the gap is lost.
   */
  recovered: boolean;
  entries: HistoryEntry[];
}

export interface AppendOptions {
  /**
   * Repeating an append with the same key (within the idempotency window) stores nothing and
   * returns the first append's position.
   */
  idempotencyKey?: string;
}

/** A user's acked cursor: everything up to `position` was acked. */
export interface AckedCursor {
  user: string;
  position: StreamPosition;
}

/** How much one kind of stream keeps. */
export interface StreamLimits {
  /** Most messages kept per stream. */
  maxMessages: number;
  /** Messages older than this are dropped (and a stream untouched this long is deleted). */
  ttlMs: number;
}

export interface HistoryLimits {
  users: StreamLimits;
  rooms: StreamLimits;
  /**
   * How long a stream's epoch, last offset and acked cursor outlive its last append or read.
   * After that a login finds a new epoch (`recovered: false`) and its acked cursor is gone.
   */
  metaTtlMs: number;
  /** How long an idempotency key is remembered. */
  idempotencyTtlMs: number;
}

/** Messages kept per user stream. @default 1000 */
export const DEFAULT_USER_HISTORY_SIZE = 1_000;
/** @default 24 h */
export const DEFAULT_USER_HISTORY_TTL_MS = 24 * 3_600_000;
/** Messages kept per room stream. @default 100 */
export const DEFAULT_ROOM_HISTORY_SIZE = 100;
/** @default 5 min */
export const DEFAULT_ROOM_HISTORY_TTL_MS = 5 * 60_000;
/** @default 30 days */
export const DEFAULT_HISTORY_META_TTL_MS = 30 * 24 * 3_600_000;
/** @default 5 min */
export const DEFAULT_IDEMPOTENCY_TTL_MS = 5 * 60_000;
/** Largest `maxMessages` a stream may keep. */
export const MAX_HISTORY_SIZE = 1_000_000;
/** Most entries one read returns. */
export const MAX_HISTORY_READ = 1_000;

export interface HistoryLimitOptions {
  /** @default { maxMessages: DEFAULT_USER_HISTORY_SIZE (1000), ttlMs: DEFAULT_USER_HISTORY_TTL_MS (24 h) } */
  users?: Partial<StreamLimits>;
  /** @default { maxMessages: DEFAULT_ROOM_HISTORY_SIZE (100), ttlMs: DEFAULT_ROOM_HISTORY_TTL_MS (5 min) } */
  rooms?: Partial<StreamLimits>;
  /** @default DEFAULT_HISTORY_META_TTL_MS (30 days) */
  metaTtlMs?: number;
  /** @default DEFAULT_IDEMPOTENCY_TTL_MS (5 min) */
  idempotencyTtlMs?: number;
}

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw InvalidArgumentError.format(name, `must be an integer from ${min} to ${max}, got ${String(v)}`);
  return v;
}

/** Defaults merged and validated once (a bad value throws InvalidArgumentError). */
export function resolveHistoryLimits(o: HistoryLimitOptions = {}): HistoryLimits {
  const stream = (kind: string, given: Partial<StreamLimits> | undefined, size: number, ttl: number): StreamLimits => ({
    maxMessages: checkInt(`history.${kind}.maxMessages`, given?.maxMessages ?? size, 1, MAX_HISTORY_SIZE),
    ttlMs: checkInt(`history.${kind}.ttlMs`, given?.ttlMs ?? ttl, 1_000, 365 * 24 * 3_600_000),
  });
  const limits: HistoryLimits = {
    users: stream('users', o.users, DEFAULT_USER_HISTORY_SIZE, DEFAULT_USER_HISTORY_TTL_MS),
    rooms: stream('rooms', o.rooms, DEFAULT_ROOM_HISTORY_SIZE, DEFAULT_ROOM_HISTORY_TTL_MS),
    metaTtlMs: checkInt('history.metaTtlMs', o.metaTtlMs ?? DEFAULT_HISTORY_META_TTL_MS, 1_000, 10 * 365 * 24 * 3_600_000),
    idempotencyTtlMs: checkInt('history.idempotencyTtlMs', o.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS, 1_000, 7 * 24 * 3_600_000),
  };
  // The meta (epoch, acked cursor) must outlive the messages, or a stream would change epoch under held messages.
  const longest = Math.max(limits.users.ttlMs, limits.rooms.ttlMs);
  if (limits.metaTtlMs < longest) throw InvalidArgumentError.format('history.metaTtlMs', `must be at least the longest stream ttlMs (${longest}), got ${limits.metaTtlMs}`);
  return limits;
}

/**
 * Message history behind one interface. Appends to one stream are ordered and atomic (offset,
 * epoch, trim and expiry move together); the acked cursor of a user stream only moves forward.
 */
export interface HistoryEngine {
  /** `memory` (this process only) or `redis` (shared by the cluster); published in the server's node. */
  readonly kind: 'memory' | 'redis';
  readonly limits: HistoryLimits;
  /** Connects (Redis); appends and reads before it wait for it. */
  start(): Promise<void>;
  /** Stores one message; resolves with its position. Rejects with HistoryUnavailableError. */
  append(stream: StreamRef, entry: NewEntry, opts?: AppendOptions): Promise<StreamPosition>;
  /** Stores several messages (pipelined); one position per entry, in order. */
  appendMany(items: readonly { stream: StreamRef; entry: NewEntry; opts?: AppendOptions }[]): Promise<StreamPosition[]>;
  read(stream: StreamRef, opts: ReadOptions): Promise<HistoryPage>;
  /** Each user's acked cursor moves to its position if that is further in the current epoch (one batch: coalesced writes of many users). */
  ack(cursors: readonly AckedCursor[]): Promise<void>;
  close(): Promise<void>;
}
