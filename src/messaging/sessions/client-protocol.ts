import type { Socket } from 'node:net';
import { FulcrumError } from '../../errors.js';
import { encodeFrame, type PongMessage } from '../../protocol/frames.js';
import { BadFrameError, DELIVERY_CODES, KICK_REASONS, WIRE_ERRORS, parseClientFrame, type ClientFrame, type MessageId, type RefreshedFrame, type SentFrame, type StreamPosition } from '../../protocol/messages.js';
import type { HistoryPage } from '../history/history-engine.js';
import { compareLogins, nextLogin, type LoginOrder } from '../login-order.js';
import type { TokenVerifier } from '../token.js';
import { ExpiryWheel } from './expiry-wheel.js';
import type { ClientConnection, FrameProtocol } from '../../server/transport/client-connection.js';
import { ClientSession, type SessionState } from './client-session.js';
import type { HistoryDelivery } from './history-delivery.js';
import type { SessionLimits } from './session-limits.js';
import type { UserSessions } from './user-sessions.js';

export type AuthorizeAction = 'login' | 'join' | 'send';

/** What the application's authorize hook is asked. */
export interface AuthorizeRequest {
  user: string;
  action: AuthorizeAction;
  /** join: the room. */
  room?: string;
  /** send: the receiver. */
  to?: string;
  /** This server's id. */
  server: string;
}

/** true allows; false (or anything else, or a throw) refuses. May answer asynchronously: the connection's later frames wait, in order. */
export type Authorize = (request: AuthorizeRequest) => boolean | Promise<boolean>;

/** Where a login's route goes. */
export interface RouteStore {
  /** Resolves once ZooKeeper holds the route (or a newer state of the user); never rejects while open. */
  set(user: string, since: number, seq: number): Promise<void>;
}

/** What the client protocol asks of the server's router. */
export interface SessionRouter {
  /** The user's latest login as the server's route view knows it now. */
  route(user: string): LoginOrder | undefined;
  /** Before a login: the user's latest login on another server, from the route table or asked of the servers. */
  previous(user: string): LoginOrder | undefined | Promise<LoginOrder | undefined>;
  /**
   * A private message; resolves once the receiver acked (or, history on, once it is stored:
   * `delivered: false` then), rejects with a FulcrumError whose code `sent` carries.
   */
  push(to: string, body: unknown, opts: { from: string; ackTimeoutMs: number }): Promise<{ delivered: boolean; code?: string }>;
  /**
   * After the welcome of `user`'s login `order`: the servers that may hold an older one (`previous`,
   * the one `previous` gave) kick it. Resolves with a newer login held elsewhere, if any: ours goes.
   */
  kickElsewhere(user: string, order: LoginOrder, previous: LoginOrder | undefined): Promise<LoginOrder | undefined>;
}

export interface ClientProtocolOptions {
  /** This server's id. */
  server: () => string;
  /** Checks login and refresh tokens; none (or one without keys): logins as claimed. */
  tokens?: TokenVerifier;
  /** A connection whose token expired without a refresh is kicked (`expired`) this long after the expiry. */
  tokenGraceMs: number;
  /** How long a private message waits for the receiver's ack. */
  ackTimeoutMs: number;
  limits: SessionLimits;
  authorize?: Authorize;
  /** Told about every ping: the connection speaks fulcrum frames (the rebalancer may ask it to migrate). */
  onPing?: (socket: Socket, migrated: boolean) => void;
  /** A failure that is nobody's answer (the authorize hook threw, a bug): the server's error policy. */
  report: (e: Error) => void;
  /** Expected failures worth a debug line (the courtesy kick of a previous holder). */
  debug?: (fields: object, message: string) => void;
  /** History on: login and join replays, ordered deliveries, acked cursors. */
  history?: HistoryDelivery;
}

/** Resolves true when `p` settles within `ms`, false after. */
function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms, false);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

/**
 * The client side of the messaging protocol on one server: reads each connection's frames in
 * order, logs users in (welcome once the route is stored), joins, leaves, private messages, acks
 * and pings, within the connection's inbound budget and the application's authorize hook.
 */
export class ClientProtocol implements FrameProtocol<ClientSession> {
  private seq = 0;
  private deps: { routes: RouteStore; router: SessionRouter } | undefined;
  /** Connections accepted before the route table was loaded, paused until attach(). */
  private held: ClientSession[] | undefined = [];
  private shutDown = false;
  /** When each logged-in connection's token runs out (plus the grace period): one sweep per server. */
  private readonly expiry = new ExpiryWheel<ClientSession>((s) => {
    if (s.state !== 'online') return;
    this.users.counters.expiredKicks++;
    this.users.kick(s, KICK_REASONS.expired);
  });

  constructor(
    private readonly users: UserSessions,
    private readonly options: ClientProtocolOptions,
  ) {}

  /** Logged-in connections whose token expiry is being watched. */
  get watchedExpiries(): number {
    return this.expiry.count;
  }

  /** The routes and the router are ready: held connections are read from now on. */
  attach(routes: RouteStore, router: SessionRouter): void {
    this.deps = { routes, router };
    const held = this.held ?? [];
    this.held = undefined;
    for (const s of held) if (s.state !== 'closing') s.conn.resume();
  }

  /** No more logins: a login still waiting for its route is closed without a welcome. */
  close(): void {
    this.shutDown = true;
    this.expiry.stop();
  }

  /** A new client connection over any transport; `connect` builds it around its session (and reports to this handler). */
  open(connect: (s: ClientSession) => ClientConnection): ClientSession {
    const s = new ClientSession(this.options.limits);
    s.conn = connect(s);
    if (this.held) {
      s.conn.pause();
      this.held.push(s);
    }
    return s;
  }

  received(s: ClientSession, bytes: number): boolean {
    if (s.spend(0, bytes, this.options.limits)) return true;
    this.rateLimited(s);
    return false;
  }

  frame(s: ClientSession, value: unknown): void {
    if (s.state === 'closing') return;
    let frame: ClientFrame | BadFrameError;
    try {
      frame = parseClientFrame(value);
    } catch (e) {
      if (!(e instanceof BadFrameError)) throw e;
      frame = e;
    }
    // An ack answers the server; every other frame is the client's initiative and counted.
    if ((frame instanceof BadFrameError || frame.type !== 'ack') && !s.spend(1, 0, this.options.limits)) return this.rateLimited(s);
    // A bad frame waits its turn too: the frames before it are handled first.
    if (s.backlog) s.backlog.push(frame);
    else this.run(s, frame);
  }

  malformed(s: ClientSession, error: Error): void {
    this.users.fatal(s, WIRE_ERRORS.badFrame, error.message);
  }

  closed(s: ClientSession): void {
    this.expiry.delete(s);
    this.users.closed(s);
  }

  /** Newer logins elsewhere replace ours: kick the local connections they beat. */
  routesChanged(changed: readonly string[]): void {
    const router = this.deps?.router;
    if (!router) return;
    const server = this.options.server();
    for (const user of changed) {
      const s = this.users.get(user);
      if (!s?.order) continue;
      const best = router.route(user);
      if (best && best.server !== server && compareLogins(s.order, best) < 0) this.users.kick(s, KICK_REASONS.replaced);
    }
  }

  private rateLimited(s: ClientSession): void {
    if (s.state === 'closing') return;
    this.users.counters.rateLimited++;
    const l = this.options.limits;
    this.users.fatal(s, WIRE_ERRORS.rateLimited, `more than ${l.maxInboundFramesPerSecond} frames or ${l.maxInboundBytesPerSecond} bytes per second`);
  }

  /** Handles one frame; while an asynchronous step runs, later frames wait in the backlog (and reading pauses). */
  private run(s: ClientSession, frame: ClientFrame | BadFrameError): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.handle(s, frame);
    } catch (e) {
      return this.failed(s, e);
    }
    if (!pending) return;
    s.backlog = [];
    s.conn.pause();
    pending.then(() => this.drain(s), (e: unknown) => this.failed(s, e));
  }

  private drain(s: ClientSession): void {
    while (s.state !== 'closing' && s.backlog) {
      const next = s.backlog.shift();
      if (next === undefined) {
        s.backlog = undefined;
        s.conn.resume();
        return;
      }
      let pending: Promise<void> | undefined;
      try {
        pending = this.handle(s, next);
      } catch (e) {
        return this.failed(s, e);
      }
      if (pending) {
        pending.then(() => this.drain(s), (e: unknown) => this.failed(s, e));
        return;
      }
    }
  }

  private failed(s: ClientSession, e: unknown): void {
    this.options.report(e instanceof Error ? e : new Error(String(e)));
    this.users.fatal(s, WIRE_ERRORS.internal, 'the server failed handling a frame');
  }

  private handle(s: ClientSession, frame: ClientFrame | BadFrameError): Promise<void> | undefined {
    if (frame instanceof BadFrameError) {
      this.users.fatal(s, frame.code, frame.message);
      return undefined;
    }
    switch (frame.type) {
      case 'ping':
        this.options.onPing?.(s.conn.socket, frame.migrated === true);
        this.users.write(s, encodeFrame({ type: 'pong', seq: frame.seq, id: this.options.server() } satisfies PongMessage));
        return undefined;
      case 'ack':
        this.users.settleAck(s, frame.id, true);
        this.options.history?.acked(s, frame.id);
        return undefined;
      case 'login':
        return this.login(s, frame.user, frame.token, frame.since);
      default:
        break;
    }
    if (s.state !== 'online') {
      this.users.fatal(s, WIRE_ERRORS.notLoggedIn, `${frame.type} before login`);
      return undefined;
    }
    const user = s.user!;
    const server = this.options.server();
    switch (frame.type) {
      case 'join': {
        const { room, since } = frame;
        // History on: `joined` and the replay come before any later frame is handled.
        let replaying: Promise<void> | undefined;
        const asking = this.permit({ user, action: 'join', room, server }, (allowed) => {
          if (s.state !== 'online') return;
          if (!allowed) this.users.refuseJoin(s, room, WIRE_ERRORS.forbidden, `join ${room} refused`);
          else if (!this.users.join(s, room, this.options.limits.maxRoomsPerConnection)) {
            this.users.refuseJoin(s, room, WIRE_ERRORS.tooManyRooms, `join ${room} refused: already in ${this.options.limits.maxRoomsPerConnection} rooms`);
          } else if (this.options.history) replaying = this.options.history.joinRoom(s, room, since);
        });
        return asking ? asking.then(() => replaying) : replaying;
      }
      case 'leave':
        this.users.leave(s, frame.room);
        this.options.history?.leaveRoom(s, frame.room);
        return undefined;
      case 'refresh':
        return this.refresh(s, frame.token);
      case 'send': {
        const { id, to, body } = frame;
        return this.permit({ user, action: 'send', to, server }, (allowed) => {
          if (s.state !== 'online') return;
          if (allowed) return void this.sendPrivate(s, id, to, body);
          this.users.counters.forbidden++;
          this.users.write(s, encodeFrame({ type: 'sent', id, delivered: false, code: DELIVERY_CODES.forbidden } satisfies SentFrame));
        });
      }
    }
  }

  /** Asks the authorize hook; `then` gets the answer at once when it is synchronous. */
  private permit(request: Parameters<Authorize>[0], then: (allowed: boolean) => void): Promise<void> | undefined {
    const authorize = this.options.authorize;
    if (!authorize) {
      then(true);
      return undefined;
    }
    let answer: boolean | Promise<boolean>;
    try {
      answer = authorize(request);
    } catch (e) {
      this.authorizeFailed(request, e);
      then(false);
      return undefined;
    }
    if (typeof (answer as Promise<boolean> | undefined)?.then !== 'function') {
      then(answer === true);
      return undefined;
    }
    return Promise.resolve(answer).then(
      (a) => then(a === true),
      (e: unknown) => {
        this.authorizeFailed(request, e);
        then(false);
      },
    );
  }

  private authorizeFailed(request: Parameters<Authorize>[0], e: unknown): void {
    this.options.report(new FulcrumError('FULCRUM_AUTHORIZE_FAILED', `the authorize hook failed for ${request.action} by ${request.user} (refused): ${(e as Error)?.message ?? String(e)}`, { cause: e }));
  }

  private async login(s: ClientSession, user: string, token: string | undefined, since: StreamPosition | undefined): Promise<void> {
    if (s.state !== 'anonymous') return this.users.fatal(s, WIRE_ERRORS.alreadyLoggedIn, `already logged in as ${s.user}`);
    const tokens = this.options.tokens;
    if (tokens?.enabled) {
      const checked = await tokens.verify(token, user);
      if (s.state !== 'anonymous') return;
      if (!checked.ok) return this.users.fatal(s, checked.problem, `login as ${user} refused: ${checked.problem}`);
      s.expiresAt = checked.expiresAt;
    }
    const server = this.options.server();
    let allowed = false;
    const asking = this.permit({ user, action: 'login', server }, (a) => (allowed = a));
    if (asking) await asking;
    if (s.state !== 'anonymous') return;
    if (!allowed) return this.users.fatal(s, WIRE_ERRORS.forbidden, `login as ${user} refused`);
    if (this.shutDown || !this.deps) return this.users.end(s, 'closed');
    const { routes, router } = this.deps;
    const asked = router.previous(user);
    const known = asked instanceof Promise ? await asked : asked;
    if ((s.state as SessionState) !== 'anonymous') return;
    if (this.shutDown) return this.users.end(s, 'closed');
    const local = this.users.get(user);
    const order = nextLogin(server, ++this.seq, [known, local?.order]);
    if (local) this.users.kick(local, KICK_REASONS.replaced);
    this.users.admit(s, user, order);
    const stored = routes.set(user, order.since, order.seq);
    const inTime = await settlesWithin(stored, this.options.limits.welcomeTimeoutMs);
    // Replaced, kicked or closed meanwhile (read again: TypeScript does not see the await change it).
    if ((s.state as SessionState) !== 'logging-in') return;
    if (this.shutDown) return this.users.end(s, 'closed');
    if (!inTime) return this.users.fatal(s, WIRE_ERRORS.routesUnavailable, `the route of ${user} was not stored in ZooKeeper within ${this.options.limits.welcomeTimeoutMs} ms; try again`);
    // History on: what the user missed is read once its route is stored, so a push stored after this read is routed here live.
    const history = this.options.history;
    let page: HistoryPage | undefined;
    if (history) {
      try {
        page = await history.openUser(s, user, since);
      } catch {
        // Counted and reported by the history delivery; the client tries again (another server, later).
        if ((s.state as SessionState) === 'logging-in') this.users.fatal(s, WIRE_ERRORS.historyUnavailable, `the messages ${user} missed could not be read; try again`);
        return;
      }
      if ((s.state as SessionState) !== 'logging-in') return;
      if (this.shutDown) return this.users.end(s, 'closed');
    }
    this.users.welcome(s, page && { recovered: page.recovered, epoch: page.epoch, offset: page.offset });
    if (s.expiresAt !== undefined) this.expiry.set(s, s.expiresAt + this.options.tokenGraceMs);
    if (page) history!.replayUser(s, page);
    // The previous holder stays reachable until this login is; then it is told at once rather than when it sees our route.
    router.kickElsewhere(user, order, known).then(
      (newer) => {
        // A login elsewhere is newer (two at once): ours goes, as when the route table shows it.
        if (newer && s.state === 'online' && s.order === order && compareLogins(order, newer) < 0) this.users.kick(s, KICK_REASONS.replaced);
      },
      (e: unknown) => this.options.debug?.({ err: e, user, previous: known?.server }, 'could not tell another server of a re-login (it kicks the old login when it sees the new route)'),
    );
  }

  /** A fresh token on a live connection: `refreshed`, or an `error {refresh: true}` that leaves the connection (and its old token) as they were. */
  private refresh(s: ClientSession, token: string): Promise<void> | undefined {
    const tokens = this.options.tokens;
    if (!tokens?.enabled) {
      this.users.write(s, encodeFrame({ type: 'refreshed' } satisfies RefreshedFrame));
      return undefined;
    }
    return tokens.verify(token, s.user).then((checked) => {
      if (s.state !== 'online') return;
      if (!checked.ok) return this.users.refuseRefresh(s, checked.problem, `refresh refused: ${checked.problem}`);
      s.expiresAt = checked.expiresAt;
      this.expiry.set(s, checked.expiresAt + this.options.tokenGraceMs);
      this.users.write(s, encodeFrame({ type: 'refreshed', expiresAt: checked.expiresAt } satisfies RefreshedFrame));
    });
  }

  private async sendPrivate(s: ClientSession, id: MessageId, to: string, body: unknown): Promise<void> {
    let sent: SentFrame;
    try {
      const r = await this.deps!.router.push(to, body, { from: s.user!, ackTimeoutMs: this.options.ackTimeoutMs });
      sent = r.delivered ? { type: 'sent', id, delivered: true } : { type: 'sent', id, delivered: false, stored: true, ...(r.code !== undefined ? { code: r.code } : {}) };
    } catch (e) {
      if (!(e instanceof FulcrumError)) this.options.report(e instanceof Error ? e : new Error(String(e)));
      sent = { type: 'sent', id, delivered: false, code: e instanceof FulcrumError ? e.code : WIRE_ERRORS.internal };
    }
    this.users.write(s, encodeFrame(sent));
  }
}
