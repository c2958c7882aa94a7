import { DisconnectedError, LoginError, RequestRefusedError, RequestTimeoutError } from '../errors.js';
import { isPong } from '../protocol/frames.js';
import { isFrameOf, type ErrorFrame, type JoinedFrame, type KickedFrame, type LoginFrame, type MessageFrame, type MessageId, type RefreshedFrame, type SentFrame, type StreamPosition, type WelcomeFrame } from '../protocol/messages.js';
import { LOGIN_CLOSED, LOGIN_TIMEOUT, type LoginOptions } from './login.js';
import { nextFrame, type Transport } from './transport.js';

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;
/**
 * A token is refreshed this long before it expires (or halfway through its remaining life, if
 * that is sooner), by calling the login's token function again. @default 60000
 */
export const DEFAULT_REFRESH_BEFORE_MS = 60_000;
/** After a failed refresh, the next try waits at least this long. */
const REFRESH_RETRY_MIN_MS = 1_000;

/** A message pushed to this client (`message` frame). */
export type ReceivedMessage = Omit<MessageFrame, 'type'>;

/** The answer to send(): whether the receiver acknowledged it, and if not, why (e.g. FULCRUM_USER_OFFLINE). */
export interface SendResult {
  delivered: boolean;
  code?: string;
  /** History on: not acked (yet), but stored: the receiver gets it at its next login. */
  stored?: true;
}

/** History on: what a login (`welcome`) or a join (`joined`) with `since` said about the gap after it. */
export interface Recovery {
  /** The user's stream (`room` absent) or a room's. */
  room?: string;
  /** The position the client asked to resume after. */
  since: StreamPosition;
  /** The stream now; the replayed messages come next. */
  epoch: string;
  offset: number;
}

/** What resume() told a new connection: the server id from `welcome` and the rooms it joined there. */
export interface Resumed {
  server: string | undefined;
  rooms: ReadonlySet<string>;
  /** History on: the login resumed after `since`; `recovered` says whether the whole gap follows. */
  recovery?: Recovery & { recovered: boolean };
  /** When the login's token expires (epoch ms), as `welcome` said; undefined when the server checks no tokens. */
  expiresAt?: number;
}

/** What a frame meant to the session. */
export type FrameOutcome = { kind: 'handled' } | { kind: 'kicked'; reason: string } | { kind: 'other' };

export interface MessagingSessionOptions {
  /** Acknowledge every message once `onMessage` returned. */
  autoAck: boolean;
  /** send(), join() and leave() give up waiting for the server's answer after this. */
  timeoutMs: number;
  onMessage: (message: ReceivedMessage) => void;
  /** The server sent an `error` frame that answers no request of ours (it closes that connection next). */
  onRefused: (err: RequestRefusedError) => void;
  /** History on: a login or join with `since` got its whole gap (true) or not (false: some messages were lost). */
  onRecovery?: (recovery: Recovery, recovered: boolean) => void;
  /** @default DEFAULT_REFRESH_BEFORE_MS */
  refreshBeforeMs?: number;
  /** A token refresh was answered `refreshed`: the connection lives until `expiresAt`. */
  onRefreshed?: (expiresAt: number | undefined) => void;
  /** An automatic refresh failed (the token function threw, the server refused the token, no answer); it is tried again while the old token lasts. */
  onRefreshFailed?: (err: Error) => void;
}

interface PendingRefresh {
  transport: Transport;
  resolve: (expiresAt: number | undefined) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The key of a stream's position: the user's stream, or a room's. */
const USER_STREAM = '';
const roomKey = (room: string) => `#${room}`;

/** A join or leave waiting for the pong that follows it on the same connection. */
interface Confirmation {
  op: string;
  seq: number;
  transport: Transport;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingSend {
  op: string;
  transport: Transport;
  resolve: (r: SendResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A client's messaging state, whatever connection carries it: who it logs in as, its rooms, the
 * requests waiting for an answer, and the messages it receives. The connection layer
 * (ClusterClient) hands it each new connection (resume, then attach) and tells it when one closed
 * (detach).
 */
export class MessagingSession {
  login: LoginOptions | undefined;
  private readonly rooms = new Set<string>();
  private transport: Transport | undefined;
  private confirmations: Confirmation[] = [];
  private readonly sends = new Map<MessageId, PendingSend>();
  /** An `error` frame a connection got before it closed: the cause its pending requests fail with. */
  private readonly refusals = new WeakMap<Transport, RequestRefusedError>();
  private seq = 0;
  private sendSeq = 0;
  /** History on: the last (epoch, offset) received per stream, sent as `since` on every login and join. */
  private readonly positions = new Map<string, StreamPosition>();
  /** Messages dropped because their offset was already received (another connection, a replay). */
  duplicates = 0;
  private refreshes: PendingRefresh[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  /** When the token of the current connection expires, as its server said. */
  private expiresAt: number | undefined;

  constructor(private readonly options: MessagingSessionOptions) {}

  /** History on: the last position received in the user's stream (no room) or a room's. */
  position(room?: string): StreamPosition | undefined {
    const p = this.positions.get(room === undefined ? USER_STREAM : roomKey(room));
    return p && { ...p };
  }

  private joinFrame(room: string): object {
    const since = this.positions.get(roomKey(room));
    return since ? { type: 'join', room, since } : { type: 'join', room };
  }

  /** The rooms this client is in (and joins again on every new connection). */
  get joined(): ReadonlySet<string> {
    return this.rooms;
  }

  /**
   * The one place where a new connection learns who this client is and where it was: `login`,
   * then a `join` per room. Fields a server needs to resume more (history positions) go here.
   * Rejects with LoginError: the server's code for a refusal, LOGIN_TIMEOUT / LOGIN_CLOSED otherwise.
   */
  async resume(t: Transport, timeoutMs: number): Promise<Resumed> {
    const login = this.login;
    if (!login) return { server: undefined, rooms: new Set() };
    const token = typeof login.token === 'function' ? await login.token() : login.token;
    const since = this.positions.get(USER_STREAM);
    const frame: LoginFrame = { type: 'login', user: login.user, ...(token === undefined ? {} : { token }), ...(since ? { since: { ...since } } : {}) };
    t.send(frame);
    const answer = await nextFrame(t, (m): m is WelcomeFrame | ErrorFrame => isFrameOf(m, 'welcome') || isFrameOf(m, 'error'), timeoutMs, {
      onTimeout: () => new LoginError(LOGIN_TIMEOUT, `login as ${login.user}: no welcome from ${t.peer} within ${timeoutMs} ms`),
      onClose: () => new LoginError(LOGIN_CLOSED, `login as ${login.user}: ${t.peer} closed the connection`),
    });
    if (answer.type === 'error') throw new LoginError(String(answer.code), `login as ${login.user} refused: ${String(answer.message)}`);
    let recovery: Resumed['recovery'];
    if (typeof answer.epoch === 'string' && typeof answer.offset === 'number') {
      if (since) recovery = { since, epoch: answer.epoch, offset: answer.offset, recovered: answer.recovered === true };
      this.startEpoch(USER_STREAM, answer.epoch);
    }
    const rooms = new Set(this.rooms);
    for (const room of rooms) t.send(this.joinFrame(room));
    return { server: String(answer.server), rooms, ...(recovery ? { recovery } : {}), ...(typeof answer.expiresAt === 'number' ? { expiresAt: answer.expiresAt } : {}) };
  }

  /** When the current connection's token expires (epoch ms); undefined when the server checks no tokens. */
  get tokenExpiresAt(): number | undefined {
    return this.expiresAt;
  }

  /**
   * Sends a fresh token on the current connection (`token`, or the login's token function called
   * again) and resolves with the new expiry once the server answers `refreshed`. Rejects with
   * RequestRefusedError (the server's TOKEN_* code; the old token stays in force), DisconnectedError or RequestTimeoutError.
   */
  async refresh(token?: string): Promise<number | undefined> {
    const t = this.transport;
    if (!t) throw new DisconnectedError('refresh');
    const fresh = token ?? (typeof this.login?.token === 'function' ? await this.login.token() : this.login?.token);
    if (fresh === undefined) throw new DisconnectedError('refresh', { cause: new Error('no token to refresh with') });
    if (this.transport !== t || !t.send({ type: 'refresh', token: fresh })) throw new DisconnectedError('refresh');
    return new Promise((resolve, reject) => {
      const r: PendingRefresh = {
        transport: t,
        resolve,
        reject,
        timer: setTimeout(() => this.settleRefresh(r, new RequestTimeoutError('FULCRUM_REQUEST_TIMEOUT', 'refresh', this.options.timeoutMs)), this.options.timeoutMs),
      };
      this.refreshes.push(r);
    });
  }

  private settleRefresh(r: PendingRefresh, err: Error | undefined, expiresAt?: number): void {
    this.refreshes = this.refreshes.filter((x) => x !== r);
    clearTimeout(r.timer);
    if (err) return r.reject(err);
    if (r.transport === this.transport) {
      this.expiresAt = expiresAt;
      this.scheduleRefresh();
    }
    r.resolve(expiresAt);
  }

  /** Refreshes before the current token expires, when the login has a token function to ask. */
  private scheduleRefresh(retry = false): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const expiresAt = this.expiresAt;
    if (expiresAt === undefined || typeof this.login?.token !== 'function') return;
    const left = expiresAt - Date.now();
    if (retry && left <= 0) return; // too late: the server kicks the connection (expired) and a re-login gets a fresh token
    const lead = Math.min(this.options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS, left / 2);
    const delay = retry ? Math.max(REFRESH_RETRY_MIN_MS, left / 2) : Math.max(0, left - lead);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.refresh().then(
        (at) => this.options.onRefreshed?.(at),
        (e: Error) => {
          if (!this.transport) return;
          this.options.onRefreshFailed?.(e);
          this.scheduleRefresh(true);
        },
      );
    }, delay);
    this.refreshTimer.unref?.();
  }

  /** A stream announced with another epoch (or first seen): its replay starts after offset 0 of that epoch. */
  private startEpoch(key: string, epoch: string): void {
    if (this.positions.get(key)?.epoch !== epoch) this.positions.set(key, { epoch, offset: 0 });
  }

  /** `t` (resumed) carries the session from now on: rooms changed since resume() are caught up, waiting joins and leaves are confirmed there. */
  attach(t: Transport, resumed: Resumed): void {
    this.transport = t;
    if (resumed.recovery) {
      const { recovered, ...recovery } = resumed.recovery;
      this.options.onRecovery?.(recovery, recovered);
    }
    this.expiresAt = resumed.expiresAt;
    this.scheduleRefresh();
    for (const room of this.rooms) if (!resumed.rooms.has(room)) t.send(this.joinFrame(room));
    for (const room of resumed.rooms) if (!this.rooms.has(room)) t.send({ type: 'leave', room });
    for (const c of this.confirmations) {
      if (c.transport === t) continue;
      c.transport = t;
      c.seq = ++this.seq;
      t.send({ type: 'ping', seq: c.seq });
    }
  }

  /** `t` closed: every request that waits for an answer on it fails now. */
  detach(t: Transport, cause: Error | undefined): void {
    if (this.transport === t) {
      this.transport = undefined;
      this.expiresAt = undefined;
      clearTimeout(this.refreshTimer);
      this.refreshTimer = undefined;
    }
    for (const r of this.refreshes.filter((x) => x.transport === t)) this.settleRefresh(r, new DisconnectedError('refresh', { cause }));
    const why = this.refusals.get(t) ?? cause;
    const failing = this.confirmations.filter((c) => c.transport === t);
    this.confirmations = this.confirmations.filter((c) => c.transport !== t);
    for (const c of failing) {
      clearTimeout(c.timer);
      c.reject(new DisconnectedError(c.op, { cause: why }));
    }
    for (const [id, s] of this.sends) {
      if (s.transport !== t) continue;
      this.sends.delete(id);
      clearTimeout(s.timer);
      s.reject(new DisconnectedError(s.op, { cause: why }));
    }
  }

  /** Handles one frame from `t` (the current connection or one being left). */
  onFrame(t: Transport, m: unknown): FrameOutcome {
    if (isFrameOf<MessageFrame>(m, 'message')) {
      this.received(t, m);
    } else if (isFrameOf<JoinedFrame>(m, 'joined')) {
      this.onJoined(m);
    } else if (isFrameOf<SentFrame>(m, 'sent')) {
      const s = this.sends.get(m.id);
      if (!s || s.transport !== t) return { kind: 'handled' };
      this.sends.delete(m.id);
      clearTimeout(s.timer);
      s.resolve({ delivered: m.delivered === true, ...(m.code === undefined ? {} : { code: String(m.code) }), ...(m.stored === true ? { stored: true as const } : {}) });
    } else if (isPong(m)) {
      const c = this.confirmations.find((x) => x.transport === t && x.seq === m.seq);
      if (c) this.settle(c, undefined);
    } else if (isFrameOf<RefreshedFrame>(m, 'refreshed')) {
      const r = this.refreshes.find((x) => x.transport === t);
      if (r) this.settleRefresh(r, undefined, typeof m.expiresAt === 'number' ? m.expiresAt : undefined);
    } else if (isFrameOf<ErrorFrame>(m, 'error') && m.refresh === true) {
      const r = this.refreshes.find((x) => x.transport === t);
      if (r) this.settleRefresh(r, new RequestRefusedError(String(m.code), 'refresh', String(m.message)));
    } else if (isFrameOf<ErrorFrame>(m, 'error')) {
      // The server answers frames in order: an error before a join's pong is that join's answer.
      const c = this.confirmations.find((x) => x.transport === t);
      const refusal = new RequestRefusedError(String(m.code), c?.op ?? `a request on ${t.peer}`, String(m.message));
      if (c) this.settle(c, refusal);
      else {
        this.refusals.set(t, refusal);
        this.options.onRefused(refusal);
      }
    } else if (isFrameOf<KickedFrame>(m, 'kicked')) {
      return { kind: 'kicked', reason: String(m.reason) };
    } else {
      return { kind: 'other' };
    }
    return { kind: 'handled' };
  }

  /**
   * One message: with an offset, dropped when that offset of its stream was already received
   * (another connection, a replay), else its position is kept for the next `since`. Messages of
   * the user's stream are acked (duplicates too: the server waits for them); room messages and
   * broadcasts never are.
   */
  private received(t: Transport, m: MessageFrame): void {
    const ackable = m.room === undefined && m.broadcast !== true;
    if (typeof m.offset === 'number' && typeof m.epoch === 'string' && m.broadcast !== true) {
      const key = m.room === undefined ? USER_STREAM : roomKey(m.room);
      const last = this.positions.get(key);
      if (last && last.epoch === m.epoch && m.offset <= last.offset) {
        this.duplicates++;
        if (ackable) t.send({ type: 'ack', id: m.id });
        return;
      }
      // A room left meanwhile keeps no position (a later join starts at the room's top).
      if (m.room === undefined || this.rooms.has(m.room)) this.positions.set(key, { epoch: m.epoch, offset: m.offset });
    }
    const { type: _t, ...msg } = m;
    this.options.onMessage(msg);
    if (ackable && this.options.autoAck) t.send({ type: 'ack', id: m.id });
  }

  /** History on: a join's answer: the room's position (and, with `since`, whether its gap follows). */
  private onJoined(m: JoinedFrame): void {
    const room = String(m.room);
    if (!this.rooms.has(room) || typeof m.epoch !== 'string' || typeof m.offset !== 'number') return;
    const key = roomKey(room);
    const since = this.positions.get(key);
    if (m.recovered === undefined) {
      // Joined without `since`: nothing is replayed, the room's messages start after its top.
      if (!since || since.epoch !== m.epoch || since.offset < m.offset) this.positions.set(key, { epoch: m.epoch, offset: m.offset });
      return;
    }
    this.startEpoch(key, m.epoch);
    if (since) this.options.onRecovery?.({ room, since, epoch: m.epoch, offset: m.offset }, m.recovered === true);
  }

  /** Acknowledges a message on the current connection (automatic unless autoAck is false). */
  ack(id: MessageId): void {
    this.transport?.send({ type: 'ack', id });
  }

  /** Joins a room (kept across connections); resolves once the server has taken it in. A join that fails leaves the client out of the room. */
  join(room: string): Promise<void> {
    const had = this.rooms.has(room);
    this.rooms.add(room);
    return this.confirm(`join ${room}`, this.joinFrame(room)).catch((e: unknown) => {
      if (!had) {
        this.rooms.delete(room);
        this.transport?.send({ type: 'leave', room }); // the server may have taken it after all (a timeout)
      }
      throw e;
    });
  }

  /** Leaves a room; the room is not joined again on a new connection, even when this rejects. */
  leave(room: string): Promise<void> {
    this.rooms.delete(room);
    this.positions.delete(roomKey(room));
    return this.confirm(`leave ${room}`, { type: 'leave', room });
  }

  /** A private message to another user; resolves with the `sent` answer. */
  send(to: string, body: unknown): Promise<SendResult> {
    const id = ++this.sendSeq;
    const op = `send to ${to}`;
    const t = this.transport;
    if (!t || !t.send({ type: 'send', id, to, body })) return Promise.reject(new DisconnectedError(op));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sends.delete(id);
        reject(new RequestTimeoutError('FULCRUM_SEND_TIMEOUT', op, this.options.timeoutMs));
      }, this.options.timeoutMs);
      this.sends.set(id, { op, transport: t, resolve, reject, timer });
    });
  }

  /** Sends `frame` and a ping after it: the pong says the server processed the frame. */
  private confirm(op: string, frame: object): Promise<void> {
    const t = this.transport;
    if (!t || !t.send(frame)) return Promise.reject(new DisconnectedError(op));
    const seq = ++this.seq;
    t.send({ type: 'ping', seq });
    return new Promise((resolve, reject) => {
      const c: Confirmation = {
        op,
        seq,
        transport: t,
        resolve,
        reject,
        timer: setTimeout(() => this.settle(c, new RequestTimeoutError('FULCRUM_REQUEST_TIMEOUT', op, this.options.timeoutMs)), this.options.timeoutMs),
      };
      this.confirmations.push(c);
    });
  }

  private settle(c: Confirmation, err: Error | undefined): void {
    this.confirmations = this.confirmations.filter((x) => x !== c);
    clearTimeout(c.timer);
    if (err) c.reject(err);
    else c.resolve();
  }
}
