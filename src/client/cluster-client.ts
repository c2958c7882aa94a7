import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { backoffDelay } from '../backoff.js';
import { AllServersFailedError, ClosedError, InvalidArgumentError, KickedError, NoServersError, ProtocolError, type LoginError } from '../errors.js';
import type { BalanceProvider } from '../balancing/balance-provider.js';
import type { ServerInfo } from '../discovery/snapshot.js';
import { isMigrate, isPong, type MigrateMessage, type PingMessage, type PongMessage } from '../protocol/frames.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { KICK_REASONS, type MessageId } from '../protocol/messages.js';
import type { DownInstancePolicy } from './down-instance-policy.js';
import { isFinalLoginError, type LoginOptions } from './login.js';
import { DEFAULT_SEND_TIMEOUT_MS, MessagingSession, type ReceivedMessage, type Recovery, type Resumed, type SendResult } from './messaging-session.js';
import type { StreamPosition } from '../protocol/messages.js';
import { transportsOf } from '../server-data.js';
import type { TlsClientOptions } from '../server/transport/tls-options.js';
import { TcpTransport } from './tcp-transport.js';
import { nextFrame, type Transport } from './transport.js';
import { WsTransport, wsUrl } from './ws-transport.js';

/** A transport over a socket of ours (raw framed TCP or a WebSocket, either over TLS or not). */
type SocketTransport = Transport & { readonly socket: Socket };

export { DEFAULT_SEND_TIMEOUT_MS, type ReceivedMessage, type SendResult, type Recovery } from './messaging-session.js';

export const DEFAULT_CLIENT_CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_BASE_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 5_000;
/** After switching to the new server, the old connection is destroyed if its close takes longer than this. */
export const DEFAULT_MIGRATE_CLOSE_MS = 1_000;
/** disconnect() destroys the connection if the server has not closed it within this. */
const DISCONNECT_LINGER_MS = 1_000;
/**
 * A login this client gave up on (no welcome in time, a move that no longer applied) may still
 * have been stored: its route can beat the current one for a moment and get the current
 * connection kicked as `replaced`. Within this long after such a login, that kick re-homes
 * instead of stopping the client.
 */
const ABANDONED_LOGIN_GRACE_MS = 30_000;

export interface ClusterClientOptions {
  /** Picks the server (discovery + strategy + pending picks). */
  provider: BalanceProvider;
  /** Shared failure memory; failing servers are quarantined for a while. */
  downPolicy?: DownInstancePolicy;
  /** Key for sticky strategies such as `hash`. */
  key?: string;
  /** Connect + first pong (and the login, when there is one) must each finish within this. @default 3000 */
  connectTimeoutMs?: number;
  /** Prove the connection with a ping/pong (the default protocol). false leaves the socket's bytes to you (no messaging). @default true */
  ping?: boolean;
  /** Servers tried per connect() before giving up. @default 5 */
  maxAttempts?: number;
  /** Re-home to another server when the connection drops. @default true */
  reconnect?: boolean;
  /** @default 100 */
  backoffBaseMs?: number;
  /** @default 5000 */
  backoffMaxMs?: number;
  /**
   * Follow a server's `migrate` frame (default protocol only): connect elsewhere, then close the
   * old connection. @default true
   */
  migrate?: boolean;
  /** Where failed re-homing rounds and unexpected server refusals go when nobody listens for 'failed'. @default defaultLogger() */
  logger?: Logger;
  /** Disable Nagle so a small request leaves at once even with an earlier one unacknowledged. @default true */
  noDelay?: boolean;
  /** Log in as this user after connecting, and again after every re-home or migration. Also settable through connect(). */
  login?: LoginOptions;
  /** Acknowledge every received message at once (after the 'message' listeners ran). @default true */
  autoAck?: boolean;
  /** send(), join() and leave() give up waiting for the server's answer after this. @default 10000 */
  sendTimeoutMs?: number;
  /**
   * `tcp`: raw length-prefixed frames; `ws`: a WebSocket to the server's `/ws` (the same frames as
   * binary messages; needs the default protocol). A server that does not list the transport in its
   * `transports` counts as a failed attempt. @default 'tcp'
   */
  transport?: 'tcp' | 'ws';
  /**
   * With a login whose `token` is a function and a server that checks tokens: the function is
   * called again this long before the token expires (or halfway through its remaining life if
   * sooner) and the result sent as `refresh` on the live connection. @default DEFAULT_REFRESH_BEFORE_MS (60000)
   */
  refreshBeforeMs?: number;
  /**
   * What to trust on servers that publish `tls: true` (raw TLS or wss). Given, it also makes TLS
   * required: a server without `tls` counts as a failed attempt. @default Node's CA roots; plaintext servers allowed
   */
  tls?: TlsClientOptions;
}

/**
 * Where a client is. `idle`: not connected and not trying (never connected, or a connect() failed);
 * `connecting`: one attempt in flight (every connect() shares it); `connected`; `reconnecting`:
 * the connection dropped, the next attempt waits for its backoff; `stopped`: the server refused
 * the login or kicked the client, nothing more is tried until connect() is called again;
 * `closed`: disconnect() was called, for good.
 */
export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'closed';

const TRANSITIONS: Record<ClientState, readonly ClientState[]> = {
  idle: ['connecting', 'closed'],
  connecting: ['connected', 'idle', 'reconnecting', 'stopped', 'closed'],
  connected: ['reconnecting', 'idle', 'stopped', 'closed'],
  reconnecting: ['connecting', 'closed'],
  stopped: ['connecting', 'closed'],
  closed: [],
};

export interface ClusterClientEvents {
  connected: [server: ServerInfo, pongId: string | undefined];
  /** The connection dropped; `willReconnect` says whether the client re-homes. */
  disconnected: [server: ServerInfo, willReconnect: boolean];
  /** A re-homing round failed; it tries again after `delayMs`. Logged (warn) instead when nobody listens. */
  failed: [err: Error, delayMs: number | undefined];
  /**
   * A server asked this client to move and the new connection is up (`socket` now returns it);
   * the old one is closed right after this event.
   */
  migrated: [from: ServerInfo, to: ServerInfo, reason: string];
  /** A server asked this client to move but no other server took it: it stays where it is. */
  migrateFailed: [err: Error, server: ServerInfo];
  /** Logged in (after connect and after every re-home); `server` is the id from `welcome`. */
  loggedIn: [user: string, server: string];
  /** A message from a push, a private send, a room or a broadcast. */
  message: [message: ReceivedMessage];
  /** The server closed us on purpose (logged in elsewhere: 'replaced'; by an operator: 'kicked': `stopped` follows; too slow a reader: 'slow': the client re-homes). */
  kicked: [reason: string];
  /**
   * The client stopped for good because of the server: a login it refused (LoginError with its
   * code, e.g. FULCRUM_TOKEN_EXPIRED) or a kick (KickedError). Emitted once per stop; no
   * re-connect follows, and every connect() waiting for that attempt rejects with the same error.
   */
  stopped: [err: LoginError | KickedError];
  /** History on: a re-login (`room` absent) or re-join sent `since` and the server replays the whole gap after it. */
  recovered: [recovery: Recovery];
  /** History on: the server no longer held all of the gap (trimmed, expired, or its storage lost: a new epoch); what it holds follows. */
  'recovery-failed': [recovery: Recovery];
  /** A token refresh on the live connection was accepted: it now lives until `expiresAt` (epoch ms). */
  refreshed: [expiresAt: number | undefined];
  /** An automatic token refresh failed; it is tried again while the old token lasts (then the server kicks `expired` and the client logs in again). Logged (warn) when nobody listens. */
  refreshFailed: [err: Error];
}

/** An opened (and, with a login, logged-in) connection not yet adopted. */
interface Dialed {
  transport: SocketTransport;
  server: ServerInfo;
  pongId: string | undefined;
  resumed: Resumed;
}

/**
 * One logical client connection: discover, pick, connect straight to the server (no proxy),
 * and re-home with backoff and jitter when that server goes away. Its messaging state (login,
 * rooms, requests in flight, messages) lives in a MessagingSession that each new connection
 * resumes.
 */
export class ClusterClient extends EventEmitter<ClusterClientEvents> {
  private phase: ClientState = 'idle';
  private current: { transport: SocketTransport; server: ServerInfo } | undefined;
  private attempt: Promise<Socket> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Failed re-homing rounds since the last connection: the backoff exponent. */
  private rehomeFailures = 0;
  private migrating = false;
  /** The connection dropped during a move: the move's new connection (already logging in) becomes the re-home. */
  private moveTakesOver = false;
  /** When this client last gave up on a login it had sent (performance.now()). */
  private loginAbandonedAt = -Infinity;
  private seq = 0;
  private kickedReason: string | undefined;
  private readonly session: MessagingSession;
  /** How often this client had to re-home. */
  reconnects = 0;
  /** How often it moved on a server's request. */
  migrations = 0;

  constructor(private readonly options: ClusterClientOptions) {
    super();
    if (options.transport !== undefined && options.transport !== 'tcp' && options.transport !== 'ws') throw InvalidArgumentError.format('transport', `must be 'tcp' or 'ws', got ${String(options.transport)}`);
    if (options.transport === 'ws' && options.ping === false) throw InvalidArgumentError.format('transport', "'ws' needs the default protocol (ping: true)");
    this.session = new MessagingSession({
      autoAck: options.autoAck ?? true,
      timeoutMs: options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
      onMessage: (m) => this.emit('message', m),
      onRefused: (e) => this.warn(e, `${e.message} (${e.code})`),
      onRecovery: (r, ok) => (ok ? this.emit('recovered', r) : this.emit('recovery-failed', r)),
      refreshBeforeMs: options.refreshBeforeMs,
      onRefreshed: (at) => this.emit('refreshed', at),
      onRefreshFailed: (e) => (this.listenerCount('refreshFailed') > 0 ? this.emit('refreshFailed', e) : this.warn(e, `token refresh failed: ${e.message}`)),
    });
    this.session.login = options.login;
  }

  get state(): ClientState {
    return this.phase;
  }

  /** The user this client logs in as, if any. */
  get user(): string | undefined {
    return this.session.login?.user;
  }

  /** Set when the server kicked this client (until the next connect()). */
  get kicked(): string | undefined {
    return this.kickedReason;
  }

  get server(): ServerInfo | undefined {
    return this.current?.server;
  }

  get socket(): Socket | undefined {
    return this.current?.transport.socket;
  }

  get isConnected(): boolean {
    return this.current !== undefined && this.current.transport.isOpen;
  }

  /** The rooms this client is in (joined again after every re-home). */
  get rooms(): ReadonlySet<string> {
    return this.session.joined;
  }

  /** History on: the last position received in the user's stream (no room) or a room's; sent as `since` on the next login or join. */
  position(room?: string): StreamPosition | undefined {
    return this.session.position(room);
  }

  /** History on: messages dropped because their offset had already been received (a replay, a second connection during a move). */
  get duplicates(): number {
    return this.session.duplicates;
  }

  private setState(to: ClientState): void {
    if (this.phase === to) return;
    if (!TRANSITIONS[this.phase].includes(to)) throw new Error(`ClusterClient: ${this.phase} → ${to} is not a transition`);
    this.phase = to;
  }

  /**
   * Connects to the best server, trying others on failure (`avoid` names servers to skip while
   * others exist), and logs in when given a login. Calls made while an attempt runs share it (one
   * socket). NoServersError when none is registered; AllServersFailedError after maxAttempts;
   * LoginError when the server refuses the login (then the client is `stopped`).
   */
  connect(arg: Iterable<string> | LoginOptions = []): Promise<Socket> {
    if (this.phase === 'closed') return Promise.reject(new ClosedError('client'));
    let avoid: Iterable<string> = [];
    if (Symbol.iterator in arg) avoid = arg;
    else this.session.login = arg;
    if (this.session.login && this.options.ping === false) return Promise.reject(InvalidArgumentError.format('login', 'needs the default protocol (ping: true)'));
    // Connected (even if its close is being processed: the re-home follows on its own).
    if (this.phase === 'connected') return Promise.resolve(this.current!.transport.socket);
    if (this.attempt) return this.attempt;
    const rehoming = this.phase === 'reconnecting';
    clearTimeout(this.reconnectTimer);
    return this.startAttempt(new Set(avoid), rehoming);
  }

  private startAttempt(avoid: Set<string>, rehoming: boolean): Promise<Socket> {
    this.setState('connecting');
    this.kickedReason = undefined;
    const attempt = this.dial(avoid, false).then(
      (d) => {
        this.attempt = undefined;
        if (this.phase !== 'connecting') {
          this.release(d);
          throw new ClosedError('client');
        }
        this.adopt(d);
        this.setState('connected');
        this.rehomeFailures = 0;
        if (rehoming) this.reconnects++;
        this.emit('connected', d.server, d.pongId);
        if (this.session.login && d.resumed.server !== undefined) this.emit('loggedIn', this.session.login.user, d.resumed.server);
        return d.transport.socket;
      },
      (e: Error) => {
        this.attempt = undefined;
        this.afterFailure(e, rehoming);
        throw e;
      },
    );
    this.attempt = attempt;
    return attempt;
  }

  private afterFailure(e: Error, rehoming: boolean): void {
    if (this.phase !== 'connecting') return; // closed meanwhile
    if (isFinalLoginError(e)) return this.stop(e);
    if (!rehoming) return this.setState('idle');
    this.setState('reconnecting');
    const delay = this.reconnectDelay(++this.rehomeFailures);
    if (this.listenerCount('failed') > 0) this.emit('failed', e, delay);
    else this.warn(e, `reconnect failed: ${e.message}`, { delayMs: delay });
    this.scheduleReconnect(delay);
  }

  /** The server said no for good: no more attempts until the application calls connect() again. */
  private stop(err: LoginError | KickedError): void {
    if (this.phase === 'stopped' || this.phase === 'closed') return;
    this.setState('stopped');
    clearTimeout(this.reconnectTimer);
    this.emit('stopped', err);
  }

  private warn(err: Error, msg: string, extra: Record<string, unknown> = {}): void {
    (this.options.logger ?? defaultLogger()).warn({ component: 'ClusterClient', err, code: (err as { code?: unknown }).code, ...extra }, msg);
  }

  /**
   * Picks and opens a connection (proved and resumed) without adopting it. On a migration
   * (`migrated`), servers in `tried` stay excluded even when that leaves none: then the client is
   * better off staying.
   */
  private async dial(tried: Set<string>, migrated: boolean): Promise<Dialed> {
    const maxAttempts = this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    let lastError: unknown;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      if (this.closed) throw new ClosedError('client');
      let server: ServerInfo;
      try {
        server = await this.options.provider.pick({ key: this.options.key, exclude: tried });
      } catch (e) {
        if (e instanceof NoServersError && tried.size > 0 && !migrated) {
          tried.clear(); // every registered server failed once this round: give them another chance
          await this.sleep(backoffDelay(attempt, this.options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS, this.options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS));
          lastError = e;
          continue;
        }
        throw e;
      }
      let transport: SocketTransport | undefined;
      let loggingIn = false;
      try {
        transport = await this.open(server);
        const pongId = this.options.ping === false ? undefined : await this.prove(transport, migrated);
        loggingIn = this.session.login !== undefined;
        const resumed = await this.session.resume(transport, this.timeoutMs);
        if (this.closed) throw new ClosedError('client');
        this.options.downPolicy?.succeed(server.name);
        return { transport, server, pongId, resumed };
      } catch (e) {
        if (loggingIn) this.loginAbandonedAt = performance.now();
        transport?.destroy();
        this.options.provider.release(server.name);
        if (e instanceof ClosedError) throw e;
        if (isFinalLoginError(e)) throw e; // another server would refuse the same login
        lastError = e;
        tried.add(server.name);
        this.options.downPolicy?.fail(server.name);
      }
    }
    throw new AllServersFailedError(maxAttempts, lastError);
  }

  /** Connects to `server` over the configured transport, with TLS when the server speaks it. */
  private open(server: ServerInfo): Promise<SocketTransport> {
    const kind = this.options.transport ?? 'tcp';
    if (!transportsOf(server).includes(kind)) return Promise.reject(new ProtocolError(`${server.name} does not accept ${kind} connections`));
    if (this.options.tls && !server.tls) return Promise.reject(new ProtocolError(`${server.name} does not speak TLS`));
    const tls = server.tls ? (this.options.tls ?? {}) : undefined;
    return kind === 'ws'
      ? WsTransport.dial(wsUrl(server), { timeoutMs: this.timeoutMs, tls })
      : TcpTransport.dial(server.ip, server.port, { timeoutMs: this.timeoutMs, noDelay: this.options.noDelay ?? true, tls });
  }

  /** A getter, so checks after an await are not narrowed away. */
  private get closed(): boolean {
    return this.phase === 'closed';
  }

  private get timeoutMs(): number {
    return this.options.connectTimeoutMs ?? DEFAULT_CLIENT_CONNECT_TIMEOUT_MS;
  }

  /** The default protocol's first ping: the answer proves the server serves us (a full or draining one closes instead). */
  private async prove(t: Transport, migrated: boolean): Promise<string> {
    const seq = ++this.seq;
    const hello: PingMessage = migrated ? { type: 'ping', seq, migrated: true } : { type: 'ping', seq };
    t.send(hello);
    const pong = await nextFrame(t, (m): m is PongMessage => isPong(m) && m.seq === seq, this.timeoutMs, {
      onTimeout: () => new ProtocolError(`no pong from ${t.peer} within ${this.timeoutMs} ms`),
      onClose: () => new ProtocolError(`${t.peer} closed the connection (full or draining)`),
    });
    return pong.id;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  private release(d: Dialed): void {
    if (d.resumed.server !== undefined) this.loginAbandonedAt = performance.now();
    d.transport.destroy();
    this.options.provider.release(d.server.name);
  }

  private adopt(d: Dialed): void {
    const { transport, server } = d;
    this.current = { transport, server };
    if (this.options.ping === false) {
      (transport as TcpTransport).raw();
    } else {
      this.session.attach(transport, d.resumed);
      // Frames already in right behind the welcome (a kick from a login elsewhere, say) are handled
      // once the connection is adopted and announced, as if they had come a moment later.
      queueMicrotask(() => transport.receive((m) => this.onFrame(transport, server, m)));
    }
    void transport.closed.then((cause) => this.onClosed(transport, server, cause));
  }

  private onClosed(t: Transport, server: ServerInfo, cause: Error | undefined): void {
    this.session.detach(t, cause);
    if (this.current?.transport !== t) return; // one we left behind (migration, disconnect)
    this.current = undefined;
    if (this.phase !== 'connected') {
      this.emit('disconnected', server, false); // stopped (kicked)
      return;
    }
    const again = this.options.reconnect ?? true;
    this.setState(again ? 'reconnecting' : 'idle');
    this.emit('disconnected', server, again);
    if (again) {
      this.options.downPolicy?.fail(server.name);
      // A second login while the move's one is under way would replace it (or be replaced by it): the move finishes the re-home.
      if (this.migrating) {
        this.moveTakesOver = true;
        return;
      }
      // The server we just lost may still be registered (a crash is noticed only at session timeout).
      this.scheduleReconnect(0, server.name);
    }
  }

  private onFrame(t: Transport, server: ServerInfo, m: unknown): void {
    if (isMigrate(m)) {
      if (this.options.migrate ?? true) void this.follow(t, server, m);
      return;
    }
    const outcome = this.session.onFrame(t, m);
    // A connection we left behind (or are leaving: our new login there replaces it) does not count.
    if (outcome.kind === 'kicked' && t === this.current?.transport && !this.migrating) {
      this.emit('kicked', outcome.reason);
      // A slow reader may come back (the server only shed its backlog), and so may an expired login
      // (its next login asks the token function again); replaced or kicked may not, unless what
      // replaced it is a login of ours we gave up on (its route goes once its socket closed).
      if (outcome.reason === KICK_REASONS.slow || outcome.reason === KICK_REASONS.expired) return;
      if (outcome.reason === KICK_REASONS.replaced && performance.now() - this.loginAbandonedAt < ABANDONED_LOGIN_GRACE_MS) return;
      this.kickedReason = outcome.reason;
      this.stop(new KickedError(outcome.reason));
      t.end(DISCONNECT_LINGER_MS);
    }
  }

  /** Make-before-break: the new connection answers its ping (and welcomes the login) before the old one is closed. */
  private async follow(old: Transport, from: ServerInfo, m: MigrateMessage): Promise<void> {
    if (this.migrating || this.phase !== 'connected' || this.current?.transport !== old) return;
    this.migrating = true;
    try {
      const next = await this.dial(new Set([from.name, ...(m.exclude ?? [])]), true);
      if (this.moveTakesOver && this.state === 'reconnecting' && this.current === undefined) {
        // The old connection closed first (its server saw our new login): the move completes as the re-home.
        this.moveTakesOver = false;
        this.setState('connecting');
        this.adopt(next);
        this.setState('connected');
        this.rehomeFailures = 0;
        this.migrations++;
        this.emit('connected', next.server, next.pongId);
        this.emit('migrated', from, next.server, m.reason);
        if (this.session.login && next.resumed.server !== undefined) this.emit('loggedIn', this.session.login.user, next.resumed.server);
        return;
      }
      // Still current: adopt the new one even if the old one is already closing (our new login
      // replaces it there, and a WebSocket reads as closed as soon as the server's close frame arrives).
      if (this.phase !== 'connected' || this.current?.transport !== old) {
        // The old connection dropped meanwhile and the usual re-homing took over.
        this.release(next);
        return;
      }
      this.adopt(next);
      this.migrations++;
      this.emit('migrated', from, next.server, m.reason);
      if (this.session.login && next.resumed.server !== undefined) this.emit('loggedIn', this.session.login.user, next.resumed.server);
      old.end(DEFAULT_MIGRATE_CLOSE_MS);
    } catch (e) {
      if (!(e instanceof ClosedError)) this.emit('migrateFailed', e as Error, from);
    } finally {
      this.migrating = false;
      if (this.moveTakesOver) {
        // The move did not finish the re-home: the usual one does.
        this.moveTakesOver = false;
        if (this.state === 'reconnecting' && !this.attempt && !this.reconnectTimer) this.scheduleReconnect(0, from.name);
      }
    }
  }

  /** Acknowledges a message (automatic unless autoAck is false). */
  ack(id: MessageId): void {
    this.session.ack(id);
  }

  /**
   * Joins a room (kept across re-homes); resolves once the server has taken it in. Rejects at once
   * with DisconnectedError (FULCRUM_DISCONNECTED) when not connected or when the connection drops
   * first, with RequestRefusedError (the server's code) when the server refuses; then the client
   * is not in the room.
   */
  join(room: string): Promise<void> {
    return this.session.join(room);
  }

  /** Leaves a room; same errors as join(), and the room is left (not joined again) even then. */
  leave(room: string): Promise<void> {
    return this.session.leave(room);
  }

  /**
   * Sends a fresh login token on the live connection (`token`, or the login's token function
   * called again); resolves with the new expiry (epoch ms) once the server answers `refreshed`.
   * Rejects with RequestRefusedError (the server's TOKEN_* code; the connection and its old token
   * stay), DisconnectedError or RequestTimeoutError. Automatic when the token is a function.
   */
  refresh(token?: string): Promise<number | undefined> {
    return this.session.refresh(token);
  }

  /** When the current connection's login token expires (epoch ms), as the server said; undefined when it checks none. */
  get tokenExpiresAt(): number | undefined {
    return this.session.tokenExpiresAt;
  }

  /** A private message to another user, routed through the cluster; resolves with the `sent` answer. */
  send(to: string, body: unknown): Promise<SendResult> {
    return this.session.send(to, body);
  }

  private scheduleReconnect(delay: number, lostName?: string): void {
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.phase !== 'reconnecting') return;
      // Failures are handled (and reported) in afterFailure; a connect() sharing this attempt gets them too.
      this.startAttempt(new Set(lostName ? [lostName] : []), true).catch(() => {});
    }, delay);
  }

  private reconnectDelay(failures: number): number {
    return failures === 0 ? 0 : backoffDelay(failures, this.options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS, this.options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS);
  }

  /** Closes the connection for good (no re-homing); requests waiting for an answer fail with DisconnectedError. */
  async disconnect(): Promise<void> {
    if (this.phase === 'closed') return;
    this.setState('closed');
    clearTimeout(this.reconnectTimer);
    const c = this.current;
    this.current = undefined;
    if (!c || !c.transport.isOpen) return;
    c.transport.end(DISCONNECT_LINGER_MS);
    await c.transport.closed;
  }
}
