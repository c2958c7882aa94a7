import { encodeFrame } from '../../protocol/frames.js';
import { KICK_REASONS, type ErrorFrame, type KickedFrame, type MessageId, type WelcomeFrame } from '../../protocol/messages.js';
import type { LoginOrder } from '../login-order.js';
import type { ClientSession, EndReason } from './client-session.js';

/** A connection closed on purpose is destroyed after this long if the peer has not closed it. */
export const LINGER_MS = 1_000;
/**
 * …and one kicked as `slow` after this long: its `kicked` frame is queued behind up to
 * maxQueuedBytes the client has yet to read (nothing more is queued meanwhile).
 */
export const SLOW_LINGER_MS = 10_000;

/** A login, logout or kick on this server, as the MessagingServer's events report it. */
export interface SessionEvent {
  user: string;
  /** This server's id. */
  server: string;
  /** logout: why the session ended; kicked: the `kicked` frame's reason. */
  reason?: string;
}

export interface SessionEvents {
  login(e: SessionEvent): void;
  logout(e: SessionEvent & { reason: EndReason }): void;
  kicked(e: SessionEvent & { reason: string }): void;
}

export interface MessagingStats {
  /** Logged-in (welcomed) users now. */
  users: number;
  /** Logins waiting for their route to be stored (no welcome yet). */
  loggingIn: number;
  logins: number;
  /** Connections closed with `kicked` (replaced, by an operator, or slow). */
  kicks: number;
  /** Of those, kicked for reading too slowly. */
  slowKicks: number;
  /** Connections closed with an `error` frame (bad frame, refused login, rate limit). */
  refused: number;
  /** Of those, for sending too much. */
  rateLimited: number;
  /** Joins refused (authorize hook or rooms limit) and sends refused by the authorize hook. */
  forbidden: number;
  /** Connections kicked because their token expired without a refresh. */
  expiredKicks: number;
  /** `refresh` frames refused (bad, expired or another user's token; the connection stayed). */
  refreshRefused: number;
  /** Message frames written to clients. */
  messages: number;
}

export interface UserSessionsOptions {
  /** This server's id (routes, welcomes and pongs name it). */
  server: () => string;
  /** See SessionLimits.maxQueuedBytes. */
  maxQueuedBytes: number;
  /** The user's route goes (its session ended). */
  onRelease: (user: string) => void;
  events?: SessionEvents;
}

/**
 * The sessions of one server: user → session, room → sessions, and what both sides of the
 * messaging protocol do to a session (write with the queue bound, welcome, kick, close). The
 * client protocol (client-protocol.ts) and the gateway requests (gateway-requests.ts) act through it.
 */
export class UserSessions {
  private readonly byUser = new Map<string, ClientSession>();
  private readonly rooms = new Map<string, Set<ClientSession>>();
  private online = 0;
  readonly counters = { logins: 0, kicks: 0, slowKicks: 0, refused: 0, rateLimited: 0, forbidden: 0, expiredKicks: 0, refreshRefused: 0, messages: 0 };

  constructor(private readonly options: UserSessionsOptions) {}

  get stats(): MessagingStats {
    return { users: this.online, loggingIn: this.byUser.size - this.online, ...this.counters };
  }

  /** Logged-in (welcomed) users now. */
  get userCount(): number {
    return this.online;
  }

  /** The session holding `user` (logging in or online), if any. */
  get(user: string): ClientSession | undefined {
    return this.byUser.get(user);
  }

  /** The login this server holds for `user` (logging in or online), if any. */
  holder(user: string): LoginOrder | undefined {
    const s = this.byUser.get(user);
    return s && s.state !== 'closing' ? s.order : undefined;
  }

  /** Every online user with its login. */
  *holders(): IterableIterator<[string, LoginOrder]> {
    for (const s of this.everyone()) yield [s.user!, s.order!];
  }

  /** Every online session (safe to kick while iterating). */
  *everyone(): IterableIterator<ClientSession> {
    for (const s of this.byUser.values()) if (s.state === 'online') yield s;
  }

  /** The online members of `room` (safe to kick while iterating). */
  *members(room: string): IterableIterator<ClientSession> {
    for (const s of this.rooms.get(room) ?? []) if (s.state === 'online') yield s;
  }

  /** The session now holds `user`; its route is being stored. */
  admit(s: ClientSession, user: string, order: LoginOrder): void {
    s.state = 'logging-in';
    s.user = user;
    s.order = order;
    this.byUser.set(user, s);
  }

  /** The route is stored: `welcome` (with the user's stream position when history is on), then the session receives messages. */
  welcome(s: ClientSession, stream?: Pick<WelcomeFrame, 'recovered' | 'epoch' | 'offset'>): void {
    if (s.state !== 'logging-in') return;
    s.state = 'online';
    this.online++;
    this.counters.logins++;
    const server = this.options.server();
    const welcome: WelcomeFrame = { type: 'welcome', user: s.user!, server, ...(s.expiresAt === undefined ? {} : { expiresAt: s.expiresAt }), ...stream };
    this.write(s, encodeFrame(welcome));
    this.wakeLoginWaiters(s);
    this.options.events?.login({ user: s.user!, server });
  }

  /** Resolves once a login in progress is welcomed or has failed. */
  loginSettled(s: ClientSession): Promise<void> {
    if (s.state !== 'logging-in') return Promise.resolve();
    return new Promise((resolve) => (s.loginWaiters ??= []).push(resolve));
  }

  private wakeLoginWaiters(s: ClientSession): void {
    const waiters = s.loginWaiters;
    s.loginWaiters = undefined;
    for (const w of waiters ?? []) w();
  }

  /** Joins `room`; false when the session is at its rooms limit. */
  join(s: ClientSession, room: string, maxRooms: number): boolean {
    const rooms = (s.rooms ??= new Set());
    if (rooms.has(room)) return true;
    if (rooms.size >= maxRooms) return false;
    rooms.add(room);
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Set()));
    members.add(s);
    return true;
  }

  leave(s: ClientSession, room: string): void {
    if (!s.rooms?.delete(room)) return;
    if (s.rooms.size === 0) s.rooms = undefined;
    this.leaveRoom(s, room);
  }

  private leaveRoom(s: ClientSession, room: string): void {
    const members = this.rooms.get(room);
    if (!members) return;
    members.delete(s);
    if (members.size === 0) this.rooms.delete(room);
  }

  /**
   * Writes one encoded frame to the session. Past the queued-bytes limit the session is kicked
   * as `slow` (the kicked frame queues behind the rest; the close ends it). False when not written.
   */
  write(s: ClientSession, frame: Buffer): boolean {
    if (s.state === 'closing') return false;
    s.conn.write(frame);
    if (s.conn.queuedBytes > this.options.maxQueuedBytes) this.kick(s, KICK_REASONS.slow);
    return true;
  }

  /** Writes one `message` frame (counted). */
  deliver(s: ClientSession, frame: Buffer): boolean {
    if (!this.write(s, frame)) return false;
    this.counters.messages++;
    return true;
  }

  /** Writes one `message` frame to every online session (a broadcast); returns how many got it. */
  deliverToEveryone(frame: Buffer): number {
    let n = 0;
    for (const s of this.byUser.values()) if (s.state === 'online' && this.deliver(s, frame)) n++;
    return n;
  }

  /** Writes one `message` frame to every online member of `room`; returns how many got it. */
  deliverToRoom(room: string, frame: Buffer): number {
    const members = this.rooms.get(room);
    if (!members) return 0;
    let n = 0;
    for (const s of members) if (s.state === 'online' && this.deliver(s, frame)) n++;
    return n;
  }

  /** Resolves true when the client acks `id`, false after `timeoutMs` or when the session ends. */
  waitAck(s: ClientSession, id: MessageId, timeoutMs: number): Promise<boolean> {
    if (s.state === 'closing') return Promise.resolve(false);
    this.settleAck(s, id, false); // a repeated id ends the older wait unacked
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settleAck(s, id, false), timeoutMs);
      (s.acks ??= new Map()).set(id, { resolve, timer });
    });
  }

  /** The client acked (or the wait ended): resolves the wait for `id`, if any. */
  settleAck(s: ClientSession, id: MessageId, acked: boolean): void {
    const p = s.acks?.get(id);
    if (!p) return;
    s.acks!.delete(id);
    if (s.acks!.size === 0) s.acks = undefined;
    clearTimeout(p.timer);
    p.resolve(acked);
  }

  /** `error`, then close (this connection only). */
  fatal(s: ClientSession, code: string, message: string): void {
    if (s.state === 'closing') return;
    this.counters.refused++;
    s.conn.write(encodeFrame({ type: 'error', code, message } satisfies ErrorFrame));
    this.end(s, 'refused');
  }

  /** `error {room}`: one join refused, the connection stays. */
  refuseJoin(s: ClientSession, room: string, code: string, message: string): void {
    this.counters.forbidden++;
    this.write(s, encodeFrame({ type: 'error', code, message, room } satisfies ErrorFrame));
  }

  /** `error {refresh: true}`: one refresh refused, the connection stays. */
  refuseRefresh(s: ClientSession, code: string, message: string): void {
    this.counters.refreshRefused++;
    this.write(s, encodeFrame({ type: 'error', code, message, refresh: true } satisfies ErrorFrame));
  }

  /** `kicked {reason}`, then close. */
  kick(s: ClientSession, reason: string): void {
    if (s.state === 'closing') return;
    this.counters.kicks++;
    if (reason === KICK_REASONS.slow) this.counters.slowKicks++;
    s.conn.write(encodeFrame({ type: 'kicked', reason } satisfies KickedFrame));
    if (s.user !== undefined) this.options.events?.kicked({ user: s.user, server: this.options.server(), reason });
    this.end(s, reason === KICK_REASONS.replaced || reason === KICK_REASONS.slow || reason === KICK_REASONS.expired ? reason : 'kicked');
  }

  /** Closes the session on purpose: its route, rooms and waits go at once; the socket after what is queued. */
  end(s: ClientSession, reason: EndReason): void {
    if (s.state === 'closing') return;
    s.endReason = reason;
    this.release(s);
    s.conn.end(reason === 'slow' ? SLOW_LINGER_MS : LINGER_MS);
  }

  /** The connection closed (the peer went, or after end()). */
  closed(s: ClientSession): void {
    this.release(s);
  }

  private release(s: ClientSession): void {
    if (s.state === 'closing') return;
    const wasOnline = s.state === 'online';
    s.state = 'closing';
    if (s.rooms) for (const room of s.rooms) this.leaveRoom(s, room);
    s.rooms = undefined;
    s.roomStreams = undefined;
    s.userStream = undefined;
    if (s.acks) for (const id of [...s.acks.keys()]) this.settleAck(s, id, false);
    s.backlog = undefined;
    this.wakeLoginWaiters(s);
    const user = s.user;
    if (user === undefined) return;
    if (this.byUser.get(user) === s) {
      this.byUser.delete(user);
      this.options.onRelease(user);
    }
    if (wasOnline) {
      this.online--;
      this.options.events?.logout({ user, server: this.options.server(), reason: s.endReason ?? 'closed' });
    }
  }
}
