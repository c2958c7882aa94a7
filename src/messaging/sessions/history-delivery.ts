import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from '../../protocol/frames.js';
import { WIRE_ERRORS, type JoinedFrame, type MessageFrame, type MessageId, type StreamPosition } from '../../protocol/messages.js';
import type { AckCursors } from '../history/ack-cursors.js';
import { roomStream, userStream, type HistoryEngine, type HistoryEntry, type HistoryPage, type ReadOptions, type StreamRef } from '../history/history-engine.js';
import type { ClientSession } from './client-session.js';
import { StreamCursor, UserCursor, type PendingDelivery } from './stream-cursor.js';
import type { UserSessions } from './user-sessions.js';

/** Entries read from the store per page of a replay or gap fill. */
export const REPLAY_PAGE = 500;
/** History failures are reported at most once per this long (a store outage closes many connections at once). */
const REPORT_INTERVAL_MS = 5_000;

/** The encoded `message` frame, or undefined when a client could not accept it (over the frame limit). */
export function encodeMessage(frame: MessageFrame): Buffer | undefined {
  const bytes = encodeFrame(frame);
  return bytes.length - 4 > DEFAULT_MAX_FRAME_BYTES ? undefined : bytes;
}

export interface HistoryDeliveryStats {
  /** Messages written to connections from the store (login and join replays, gap fills). */
  replayed: number;
  /** Deliveries dropped because the connection already had them. */
  duplicatesDropped: number;
  /** Gap fills (a delivery arrived past the connection's next offset). */
  gapFills: number;
  /** Offsets a connection skipped because the store no longer held them. */
  lost: number;
  /** Connections closed because the store could not be read. */
  failures: number;
}

/**
 * The server side of history: each connection's place in its user stream and its rooms' streams,
 * the login and join replays, and the ordering of live deliveries (see StreamCursor). Replays and
 * live deliveries go through the same cursor, so a live message arriving during a replay is
 * neither lost nor written out of order. Reads of the same page by many connections (a room's
 * members filling the same gap) are one read.
 */
export class HistoryDelivery {
  readonly stats: HistoryDeliveryStats = { replayed: 0, duplicatesDropped: 0, gapFills: 0, lost: 0, failures: 0 };
  private readonly reads = new Map<string, Promise<HistoryPage>>();
  private readonly encoded = new WeakMap<HistoryEntry, Buffer | undefined>();
  private reportedAt = 0;

  constructor(
    private readonly users: UserSessions,
    readonly engine: HistoryEngine,
    private readonly acks: AckCursors,
    private readonly report: (e: Error) => void,
  ) {}

  /**
   * A login whose route is stored: reads what the user missed (after `since`, else after the
   * acked cursor). The user's cursor holds live deliveries until replay(). Rejects with
   * HistoryUnavailableError.
   */
  async openUser(s: ClientSession, user: string, since: StreamPosition | undefined): Promise<HistoryPage> {
    let page: HistoryPage;
    try {
      page = await this.read(userStream(user), { from: since ? { position: since } : 'acked', limit: REPLAY_PAGE });
    } catch (e) {
      this.noteFailure(e);
      throw e;
    }
    const c = new UserCursor(page.epoch, page.after, since ? 0 : page.after);
    c.queue = [];
    s.userStream = c;
    // The client says it has everything up to `since`: that moves the acked cursor too.
    if (since && page.after > 0 && page.epoch === since.epoch) this.moveAcked(user, c, page.after);
    return page;
  }

  /** After the welcome: the page read at login, the rest up to the stream's top then, then live deliveries. */
  replayUser(s: ClientSession, page: HistoryPage): void {
    if (s.userStream) void this.run(s, userStream(s.user!), s.userStream, page, page.offset);
  }

  /**
   * A join (the session is already a member): reads the room from `since` (else takes its top),
   * writes `joined`, then the missed messages, then live ones. Closes the connection when the store
   * cannot be read.
   */
  async joinRoom(s: ClientSession, room: string, since: StreamPosition | undefined): Promise<void> {
    const rooms = (s.roomStreams ??= new Map());
    if (rooms.has(room)) return this.answerJoin(s, room, rooms.get(room)!, since === undefined ? undefined : true);
    const c = new StreamCursor('', 0);
    c.queue = [];
    rooms.set(room, c);
    const ref = roomStream(room);
    let page: HistoryPage;
    try {
      page = await this.read(ref, { from: since ? { position: since } : 'top', limit: since ? REPLAY_PAGE : 0 });
    } catch (e) {
      return this.failed(s, e);
    }
    if (!this.current(s, ref, c)) return;
    c.epoch = page.epoch;
    c.last = page.after;
    this.answerJoin(s, room, c, since === undefined ? undefined : page.recovered, page.offset);
    void this.run(s, ref, c, page, page.offset);
  }

  /**
   * Reads every stream of this connection up to its top and writes what it missed: for when
   * deliveries may not have reached this server (its routes or its node were gone from ZooKeeper
   * for a while after its session expired).
   */
  catchUp(s: ClientSession): void {
    if (s.state !== 'online') return;
    const streams: [StreamRef, StreamCursor][] = [];
    if (s.userStream) streams.push([userStream(s.user!), s.userStream]);
    for (const [room, c] of s.roomStreams ?? []) streams.push([roomStream(room), c]);
    for (const [ref, c] of streams) {
      if (c.queue) continue; // a replay or gap fill runs: it reads the store anyway
      c.queue = [];
      void this.run(s, ref, c, undefined, Infinity);
    }
  }

  leaveRoom(s: ClientSession, room: string): void {
    s.roomStreams?.delete(room);
    if (s.roomStreams?.size === 0) s.roomStreams = undefined;
  }

  private answerJoin(s: ClientSession, room: string, c: StreamCursor, recovered: boolean | undefined, offset = c.last): void {
    const joined: JoinedFrame = { type: 'joined', room, epoch: c.epoch, offset, ...(recovered === undefined ? {} : { recovered }) };
    this.users.write(s, encodeFrame(joined));
  }

  /** A delivery of the user's stream to this connection (its ack wait, if any, is registered first). */
  offerUser(s: ClientSession, d: PendingDelivery): void {
    this.offer(s, 'user', s.user!, s.userStream!, d);
  }

  /** A room message for one member (fast path: it continues the member's stream). */
  offerRoom(s: ClientSession, room: string, d: PendingDelivery): boolean {
    const c = s.roomStreams?.get(room);
    if (!c) return this.users.deliver(s, d.frame);
    this.offer(s, 'room', room, c, d);
    return true;
  }

  /** The client acked `id`: the acked cursor moves when that completes a run. */
  acked(s: ClientSession, id: MessageId): void {
    const c = s.userStream;
    if (!c || !c.unacked.delete(id)) return;
    const point = c.ackPoint;
    if (point > c.stored) this.moveAcked(s.user!, c, point);
  }

  private moveAcked(user: string, c: UserCursor, offset: number): void {
    c.stored = offset;
    this.acks.mark(user, { epoch: c.epoch, offset });
  }

  /** The stream's ref is made only for a gap fill (this runs once per push and per room member). */
  private offer(s: ClientSession, kind: StreamRef['kind'], name: string, c: StreamCursor, d: PendingDelivery): void {
    if (c.queue) {
      c.queue.push(d);
      return;
    }
    if (d.epoch === c.epoch) {
      if (d.offset <= c.last) return this.dropped(s, c, d);
      if (d.offset === c.last + 1) return this.write(s, c, d);
    }
    this.stats.gapFills++;
    c.queue = [d];
    void this.run(s, { kind, name }, c, undefined, 0);
  }

  /** Already written to this connection: not again. If the client acked it then, a push waiting for that ack has it. */
  private dropped(s: ClientSession, c: StreamCursor, d: PendingDelivery): void {
    this.stats.duplicatesDropped++;
    if (c instanceof UserCursor && !c.unacked.has(d.id)) this.users.settleAck(s, d.id, true);
  }

  private write(s: ClientSession, c: StreamCursor, d: PendingDelivery): void {
    c.last = d.offset;
    if (!this.users.deliver(s, d.frame)) return;
    if (c instanceof UserCursor) {
      c.unacked.set(d.id, d.offset);
      // A client that never acks: past the stream's size the oldest are gone from the store anyway.
      if (c.unacked.size > this.engine.limits.users.maxMessages) c.unacked.delete(c.unacked.keys().next().value!);
    }
  }

  private current(s: ClientSession, ref: StreamRef, c: StreamCursor): boolean {
    if (s.state === 'closing') return false;
    return ref.kind === 'user' ? s.userStream === c : s.roomStreams?.get(ref.name) === c;
  }

  /**
   * Writes `first` (a page already read), then reads until the connection has the stream up to
   * `target` and every queued delivery is written in order; gaps no longer held are skipped and
   * counted. Live deliveries meanwhile wait in the queue.
   */
  private async run(s: ClientSession, ref: StreamRef, c: StreamCursor, first: HistoryPage | undefined, target: number): Promise<void> {
    let page = first;
    for (;;) {
      if (!this.current(s, ref, c)) return;
      // Right after a read the stream's epoch is known: a queued delivery of another one is stale.
      const fresh = page !== undefined;
      let exhausted = false;
      let top = 0;
      if (page) {
        if (page.epoch !== c.epoch) {
          // The stream's storage was lost: this connection follows the new epoch from its start.
          c.epoch = page.epoch;
          c.last = page.after;
          if (c instanceof UserCursor) {
            c.unacked.clear();
            c.stored = 0;
          }
          target = Math.max(target, page.offset);
        }
        // A catch-up reads up to the top it finds.
        if (target === Infinity) target = page.offset;
        const before = c.last;
        for (const e of page.entries) {
          if (e.offset <= c.last) continue;
          const frame = this.frameOf(ref, page.epoch, e);
          if (frame) this.write(s, c, { id: e.id, epoch: page.epoch, offset: e.offset, frame });
          else c.last = e.offset;
          this.stats.replayed++;
        }
        if (page.entries.length > 0 && page.entries[0]!.offset > before + 1) this.stats.lost += page.entries[0]!.offset - before - 1;
        exhausted = page.entries.length === 0;
        top = page.offset;
        page = undefined;
      }
      const q = c.queue ?? [];
      q.sort((a, b) => a.offset - b.offset);
      if (exhausted) {
        // Nothing was held after `last` when the store answered: what is missing up to its top then
        // (and before the next queued delivery) is lost; never wait for it. A delivery past that top
        // came after the read (a shared one): read again.
        const next = q.find((d) => d.epoch === c.epoch && d.offset > c.last);
        const skipTo = Math.min(top, next ? next.offset - 1 : target);
        if (skipTo > c.last) {
          this.stats.lost += skipTo - c.last;
          c.last = skipTo;
        }
        if (!next) target = Math.min(target, c.last);
      }
      // Queued deliveries that continue the stream go out; repeated or stale ones go.
      while (q.length > 0) {
        const d = q[0]!;
        if (d.epoch !== c.epoch) {
          if (!fresh) break; // maybe a new epoch: the next read tells
          q.shift();
        } else if (d.offset <= c.last) {
          q.shift();
          this.dropped(s, c, d);
        } else if (d.offset === c.last + 1) {
          q.shift();
          this.write(s, c, d);
        } else break;
      }
      if (q.length === 0 && c.last >= target) {
        c.queue = undefined;
        return;
      }
      try {
        page = await this.read(ref, { from: { position: { epoch: c.epoch, offset: c.last } }, limit: REPLAY_PAGE });
      } catch (e) {
        return this.failed(s, e);
      }
    }
  }

  private frameOf(ref: StreamRef, epoch: string, e: HistoryEntry): Buffer | undefined {
    if (this.encoded.has(e)) return this.encoded.get(e);
    const frame = encodeMessage({
      type: 'message',
      id: e.id,
      body: e.body,
      ...(e.from !== undefined ? { from: e.from } : {}),
      ...(ref.kind === 'room' ? { room: ref.name } : {}),
      offset: e.offset,
      epoch,
    });
    this.encoded.set(e, frame);
    return frame;
  }

  /** One read per stream and position at a time, shared by every connection asking for it. */
  private read(ref: StreamRef, opts: ReadOptions): Promise<HistoryPage> {
    const from = opts.from;
    const key = typeof from === 'object' && 'position' in from ? `${ref.kind}\n${ref.name}\n${from.position.epoch}\n${from.position.offset}\n${opts.limit}` : undefined;
    if (key === undefined) return this.engine.read(ref, opts);
    let p = this.reads.get(key);
    if (!p) {
      p = this.engine.read(ref, opts).finally(() => this.reads.delete(key));
      this.reads.set(key, p);
    }
    return p;
  }

  /** The store could not be read: the connection closes, and the client resumes from its position elsewhere or later. */
  private failed(s: ClientSession, e: unknown): void {
    this.noteFailure(e);
    this.users.fatal(s, WIRE_ERRORS.historyUnavailable, 'the message history could not be read; resume from your position');
  }

  private noteFailure(e: unknown): void {
    this.stats.failures++;
    const now = Date.now();
    if (now - this.reportedAt >= REPORT_INTERVAL_MS) {
      this.reportedAt = now;
      this.report(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
