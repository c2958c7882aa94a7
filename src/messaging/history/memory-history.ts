import { randomBytes } from 'node:crypto';
import { ClosedError } from '../../errors.js';
import {
  resolveHistoryLimits,
  type AckedCursor,
  type AppendOptions,
  type HistoryEngine,
  type HistoryEntry,
  type HistoryLimitOptions,
  type HistoryLimits,
  type HistoryPage,
  type NewEntry,
  type ReadOptions,
  type StreamPosition,
  type StreamRef,
} from './history-engine.js';

/** How often streams nobody touched are swept out. */
const SWEEP_INTERVAL_MS = 60_000;

interface MemoryStream {
  epoch: string;
  top: number;
  acked: number;
  /** Held entries, oldest first, offsets contiguous. */
  entries: HistoryEntry[];
  /** Entries go when no append came for the stream's ttlMs; the meta when untouched for metaTtlMs. */
  appendedAt: number;
  touchedAt: number;
  idempotent: Map<string, { position: StreamPosition; until: number }> | undefined;
}

/** This process's part of every epoch it makes; a counter makes each one unique (cheap enough to make one per append). */
const EPOCH_BASE = randomBytes(6).toString('base64url');
let epochs = 0;
export const newEpoch = (): string => `${EPOCH_BASE}${(++epochs).toString(36)}`;

/**
 * History in this process's memory, with the Redis engine's semantics (sizes, TTLs, epochs, the
 * acked cursor). For one server process (tests, an embedded single node): another server of the
 * cluster keeps its own, so a MessagingServer using it warns when it sees one.
 */
export class MemoryHistory implements HistoryEngine {
  readonly kind = 'memory' as const;
  readonly limits: HistoryLimits;
  private readonly streams = new Map<string, MemoryStream>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(options: HistoryLimitOptions = {}, private readonly now: () => number = Date.now) {
    this.limits = resolveHistoryLimits(options);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  async start(): Promise<void> {
    if (this.closed) throw new ClosedError('MemoryHistory');
  }

  /** Forgets every stream, as a flushed Redis would: the next access starts a new epoch. */
  clear(): void {
    this.streams.clear();
  }

  /** Streams held (meta included). */
  get size(): number {
    return this.streams.size;
  }

  async append(stream: StreamRef, entry: NewEntry, opts: AppendOptions = {}): Promise<StreamPosition> {
    if (this.closed) throw new ClosedError('MemoryHistory');
    const now = this.now();
    const s = this.open(stream, now);
    if (opts.idempotencyKey !== undefined) {
      const seen = s.idempotent?.get(opts.idempotencyKey);
      if (seen && seen.until > now) return seen.position;
    }
    const limits = this.limitsOf(stream);
    s.top++;
    s.entries.push({ ...entry, offset: s.top, at: now });
    if (s.entries.length > limits.maxMessages) s.entries.splice(0, s.entries.length - limits.maxMessages);
    s.appendedAt = now;
    this.trimAge(s, limits.ttlMs, now);
    const position = { epoch: s.epoch, offset: s.top };
    if (opts.idempotencyKey !== undefined) (s.idempotent ??= new Map()).set(opts.idempotencyKey, { position, until: now + this.limits.idempotencyTtlMs });
    return position;
  }

  appendMany(items: readonly { stream: StreamRef; entry: NewEntry; opts?: AppendOptions }[]): Promise<StreamPosition[]> {
    return Promise.all(items.map((i) => this.append(i.stream, i.entry, i.opts)));
  }

  async read(stream: StreamRef, opts: ReadOptions): Promise<HistoryPage> {
    if (this.closed) throw new ClosedError('MemoryHistory');
    const now = this.now();
    const s = this.open(stream, now);
    this.trimAge(s, this.limitsOf(stream).ttlMs, now);
    const from = opts.from;
    let after: number;
    let lost = false;
    if (from === 'acked') after = s.acked;
    else if (from === 'start') after = 0;
    else if (from === 'top') after = s.top;
    else if ('offset' in from) after = from.offset;
    else if (from.position.epoch !== s.epoch) {
      after = 0;
      lost = true;
    } else after = from.position.offset;
    if (after > s.top) {
      after = s.top;
      lost = true;
    }
    const first = s.entries[0]?.offset ?? s.top + 1;
    const start = Math.max(0, after + 1 - first);
    const entries = from === 'top' ? [] : s.entries.slice(start, start + Math.max(0, opts.limit));
    const recovered = !lost && (after >= s.top || entries[0]?.offset === after + 1);
    return { epoch: s.epoch, offset: s.top, after, recovered, entries };
  }

  async ack(cursors: readonly AckedCursor[]): Promise<void> {
    if (this.closed) throw new ClosedError('MemoryHistory');
    for (const { user, position } of cursors) {
      const s = this.streams.get(keyOf({ kind: 'user', name: user }));
      if (!s || s.epoch !== position.epoch) continue;
      if (position.offset > s.acked && position.offset <= s.top) s.acked = position.offset;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
  }

  private limitsOf(stream: StreamRef) {
    return stream.kind === 'user' ? this.limits.users : this.limits.rooms;
  }

  /** The stream's state, created (new epoch) when missing or expired. */
  private open(stream: StreamRef, now: number): MemoryStream {
    const key = keyOf(stream);
    let s = this.streams.get(key);
    if (s && now - s.touchedAt > this.limits.metaTtlMs) s = undefined;
    if (!s) {
      s = { epoch: newEpoch(), top: 0, acked: 0, entries: [], appendedAt: now, touchedAt: now, idempotent: undefined };
      this.streams.set(key, s);
    }
    if (now - s.appendedAt > this.limitsOf(stream).ttlMs) s.entries = [];
    s.touchedAt = now;
    return s;
  }

  private trimAge(s: MemoryStream, ttlMs: number, now: number): void {
    let n = 0;
    while (n < s.entries.length && now - s.entries[n]!.at > ttlMs) n++;
    if (n > 0) s.entries.splice(0, n);
    if (s.idempotent) for (const [k, v] of s.idempotent) if (v.until <= now) s.idempotent.delete(k);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, s] of this.streams) if (now - s.touchedAt > this.limits.metaTtlMs) this.streams.delete(key);
  }
}

function keyOf(stream: StreamRef): string {
  return `${stream.kind === 'user' ? 'u' : 'r'}:${stream.name}`;
}
