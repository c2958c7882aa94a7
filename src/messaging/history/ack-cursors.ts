import type { HistoryEngine, StreamPosition } from './history-engine.js';

/** Acked cursors are written at most this often (coalesced per user, pipelined across users). @default 200 */
export const DEFAULT_ACK_FLUSH_MS = 200;

/**
 * The acked cursors of one server's users, coalesced: many acks of a user between two flushes
 * are one write, and the writes of all users go out together (one pipeline). A server killed
 * before a flush loses at most the last interval's progress: those messages are sent again at the
 * next login (duplicates the client drops by offset), never lost.
 */
export class AckCursors {
  private dirty = new Map<string, StreamPosition>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Cursors written to the store (several per write when many users acked between two flushes). */
  writes = 0;

  constructor(
    private readonly engine: HistoryEngine,
    private readonly report: (e: Error) => void,
    private readonly flushMs = DEFAULT_ACK_FLUSH_MS,
  ) {}

  /** The user's acked cursor should move to `position` (written with the next flush). */
  mark(user: string, position: StreamPosition): void {
    this.dirty.set(user, position);
    this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Writes every marked cursor now; resolves once the store answered. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    if (this.dirty.size === 0) return;
    const batch = this.dirty;
    this.dirty = new Map();
    this.writes += batch.size;
    // One report per flush when it fails; the cursors stay where they were (their messages come again at the next login).
    this.flushing = this.engine.ack([...batch].map(([user, position]) => ({ user, position }))).catch((e: unknown) => this.report(e instanceof Error ? e : new Error(String(e))));
    await this.flushing;
  }

  close(): Promise<void> {
    return this.flush();
  }
}
