import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { backoffDelay } from '../backoff.js';
import { AllServersFailedError, ClosedError, FulcrumError, NoServersError, ProtocolError } from '../errors.js';
import type { BalanceProvider } from '../balancing/balance-provider.js';
import type { ServerInfo } from '../discovery/snapshot.js';
import { encodeFrame, FrameDecoder, isMigrate, isPong, type MigrateMessage, type PingMessage } from '../protocol/frames.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import { isFrameOf, type KickedFrame, type MessageFrame, type MessageId, type SentFrame } from '../protocol/messages.js';
import type { DownInstancePolicy } from './down-instance-policy.js';
import { isFinalLoginError, loginOn, type LoginOptions } from './login.js';

export const DEFAULT_CLIENT_CONNECT_TIMEOUT_MS = 3_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_BASE_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 5_000;
/** After switching to the new server, the old connection is destroyed if its close takes longer than this. */
export const DEFAULT_MIGRATE_CLOSE_MS = 1_000;

export interface ClusterClientOptions {
  /** Picks the server (discovery + strategy + pending picks). */
  provider: BalanceProvider;
  /** Shared failure memory; failing servers are quarantined for a while. */
  downPolicy?: DownInstancePolicy;
  /** Key for sticky strategies such as `hash`. */
  key?: string;
  /** Connect + first pong must finish within this. @default 3000 */
  connectTimeoutMs?: number;
  /** Prove the connection with a ping/pong (the default protocol). @default true */
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
  /** Where failed re-homing rounds go when nobody listens for 'failed'. @default defaultLogger() */
  logger?: Logger;
  /** Disable Nagle so a small request leaves at once even with an earlier one unacknowledged. @default true */
  noDelay?: boolean;
  /** Log in as this user after connecting, and again after every re-home or migration. Also settable through connect(). */
  login?: LoginOptions;
  /** Acknowledge every received message at once (after the 'message' listeners ran). @default true */
  autoAck?: boolean;
  /** send() gives up waiting for `sent` after this. @default 10000 */
  sendTimeoutMs?: number;
}

/** A message pushed to this client (`message` frame). */
export type ReceivedMessage = Omit<MessageFrame, 'type'>;

/** The answer to send(): whether the receiver acknowledged it, and if not, why (e.g. FULCRUM_USER_OFFLINE). */
export interface SendResult {
  delivered: boolean;
  code?: string;
}

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** An opened (and, with a login, logged-in) connection not yet adopted. */
interface Dialed {
  socket: Socket;
  server: ServerInfo;
  pongId: string | undefined;
  decoder: FrameDecoder;
  /** Frames that arrived right after the welcome. */
  rest: unknown[];
  /** Server id from `welcome`, when logged in. */
  welcome: string | undefined;
}

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
  /** The server closed us on purpose (logged in elsewhere: 'replaced'; by an operator: 'kicked'); no re-homing follows. */
  kicked: [reason: string];
}

/**
 * One logical client connection: discover, pick, connect straight to the server (no proxy),
 * and re-home with backoff and jitter when that server goes away.
 */
export class ClusterClient extends EventEmitter<ClusterClientEvents> {
  private sock: Socket | undefined;
  private current: ServerInfo | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private migrating = false;
  /** How often this client had to re-home. */
  reconnects = 0;
  /** How often it moved on a server's request. */
  migrations = 0;
  private login: LoginOptions | undefined;
  private readonly rooms = new Set<string>();
  private readonly sends = new Map<MessageId, { resolve: (r: SendResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private sendSeq = 0;
  private kickedReason: string | undefined;
  private barrier: { seq: number; resolve: () => void }[] = [];

  constructor(private readonly options: ClusterClientOptions) {
    super();
    this.login = options.login;
  }

  /** The user this client logs in as, if any. */
  get user(): string | undefined {
    return this.login?.user;
  }

  /** Set when the server kicked this client. */
  get kicked(): string | undefined {
    return this.kickedReason;
  }

  get server(): ServerInfo | undefined {
    return this.current;
  }

  get socket(): Socket | undefined {
    return this.sock;
  }

  get isConnected(): boolean {
    return this.sock !== undefined && !this.sock.destroyed;
  }

  /**
   * Connects to the best server, trying others on failure (`avoid` names servers to skip while
   * others exist). NoServersError when none is registered; AllServersFailedError after maxAttempts.
   */
  async connect(arg: Iterable<string> | LoginOptions = []): Promise<Socket> {
    if (this.closed) throw new ClosedError('client');
    let avoid: Iterable<string> = [];
    if (Symbol.iterator in arg) avoid = arg;
    else this.login = arg;
    if (this.isConnected) return this.sock!;
    this.kickedReason = undefined;
    const d = await this.dial(new Set(avoid), false);
    this.adopt(d);
    this.emit('connected', d.server, d.pongId);
    if (this.login && d.welcome !== undefined) this.emit('loggedIn', this.login.user, d.welcome);
    return d.socket;
  }

  /**
   * Picks and opens a connection without adopting it. On a migration (`migrated`), servers in
   * `tried` stay excluded even when that leaves none: then the client is better off staying.
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
      try {
        const { socket, pongId, decoder } = await this.open(server, migrated);
        let rest: unknown[] = [];
        let welcome: string | undefined;
        if (this.login) {
          try {
            const r = await loginOn(socket, decoder, this.login, this.options.connectTimeoutMs ?? DEFAULT_CLIENT_CONNECT_TIMEOUT_MS);
            rest = r.rest;
            welcome = r.welcome.server;
          } catch (e) {
            socket.destroy();
            throw e;
          }
        }
        if (this.closed) {
          socket.destroy();
          throw new ClosedError('client');
        }
        this.options.downPolicy?.succeed(server.name);
        return { socket, server, pongId, decoder, rest, welcome };
      } catch (e) {
        if (e instanceof ClosedError) throw e;
        if (isFinalLoginError(e)) {
          this.options.provider.release(server.name);
          throw e; // another server would refuse the same token
        }
        lastError = e;
        tried.add(server.name);
        this.options.provider.release(server.name);
        this.options.downPolicy?.fail(server.name);
      }
    }
    throw new AllServersFailedError(maxAttempts, lastError);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  private open(server: ServerInfo, migrated = false): Promise<{ socket: Socket; pongId: string | undefined; decoder: FrameDecoder }> {
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CLIENT_CONNECT_TIMEOUT_MS;
    const ping = this.options.ping ?? true;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: server.ip, port: server.port, noDelay: this.options.noDelay ?? true });
      const decoder = new FrameDecoder();
      const seq = ++this.seq;
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`no ${ping ? 'pong' : 'connection'} from ${server.ip}:${server.port} within ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer) => {
        let msgs: unknown[];
        try {
          msgs = decoder.push(chunk);
        } catch (e) {
          fail(e as Error);
          return;
        }
        const pong = msgs.find(isPong);
        if (pong && pong.seq === seq) done(pong.id);
      };
      const onEnd = () => fail(new ProtocolError(`${server.ip}:${server.port} closed the connection (full or draining)`));
      const done = (pongId: string | undefined) => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        resolve({ socket, pongId, decoder });
      };
      socket.once('error', fail);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.once('connect', () => {
        if (!ping) return done(undefined);
        socket.on('data', onData);
        const hello: PingMessage = migrated ? { type: 'ping', seq, migrated: true } : { type: 'ping', seq };
        socket.write(encodeFrame(hello));
      });
    });
  }

  private adopt(d: Dialed): void {
    const { socket, server, decoder } = d;
    this.sock = socket;
    this.current = server;
    socket.on('error', () => {});
    if (this.options.ping ?? true) {
      // The default protocol: `migrate` and, once logged in, the messaging frames.
      for (const m of d.rest) this.onFrame(m, socket, server);
      socket.on('data', (chunk: Buffer) => {
        let msgs: unknown[];
        try {
          msgs = decoder.push(chunk);
        } catch {
          socket.destroy(); // a broken stream: re-home as after any drop
          return;
        }
        for (const m of msgs) this.onFrame(m, socket, server);
      });
    }
    socket.resume(); // do not let bytes pile up
    for (const room of this.rooms) socket.write(encodeFrame({ type: 'join', room }));
    socket.once('close', () => {
      if (this.sock !== socket) return;
      this.sock = undefined;
      this.failSends(new FulcrumError('FULCRUM_DISCONNECTED', 'the connection closed before the answer'));
      const again = !this.closed && this.kickedReason === undefined && (this.options.reconnect ?? true);
      this.emit('disconnected', server, again);
      if (again) {
        this.options.downPolicy?.fail(server.name);
        this.scheduleReconnect(0, server.name);
      }
    });
  }

  /** Make-before-break: the new connection answers its ping before the old one is closed. */
  private async follow(old: Socket, from: ServerInfo, m: MigrateMessage): Promise<void> {
    if (this.migrating || this.closed || this.sock !== old) return;
    this.migrating = true;
    try {
      const next = await this.dial(new Set([from.name, ...(m.exclude ?? [])]), true);
      if (this.closed || this.sock !== old || old.destroyed) {
        // The old connection dropped meanwhile and the usual re-homing took over.
        next.socket.destroy();
        this.options.provider.release(next.server.name);
        return;
      }
      this.adopt(next);
      this.migrations++;
      this.emit('migrated', from, next.server, m.reason);
      if (this.login && next.welcome !== undefined) this.emit('loggedIn', this.login.user, next.welcome);
      const t = setTimeout(() => old.destroy(), DEFAULT_MIGRATE_CLOSE_MS);
      old.once('close', () => clearTimeout(t));
      old.end();
    } catch (e) {
      if (!(e instanceof ClosedError)) this.emit('migrateFailed', e as Error, from);
    } finally {
      this.migrating = false;
    }
  }

  private onFrame(m: unknown, from: Socket, server: ServerInfo): void {
    if (isMigrate(m)) {
      if (this.options.migrate ?? true) void this.follow(from, server, m);
    } else if (isFrameOf<MessageFrame>(m, 'message')) {
      const { type: _t, ...msg } = m;
      this.emit('message', msg);
      if (this.options.autoAck ?? true) this.ackOn(from, m.id);
    } else if (isFrameOf<SentFrame>(m, 'sent')) {
      const p = this.sends.get(m.id);
      if (!p) return;
      this.sends.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.code === undefined ? { delivered: m.delivered === true } : { delivered: m.delivered === true, code: String(m.code) });
    } else if (isFrameOf<KickedFrame>(m, 'kicked')) {
      // A connection we left behind (or are leaving: our new login there replaces it) does not count.
      if (from !== this.sock || this.migrating) return;
      this.kickedReason = String(m.reason);
      this.emit('kicked', this.kickedReason);
    } else if (isPong(m)) {
      this.barrier = this.barrier.filter((b) => (b.seq === m.seq ? (b.resolve(), false) : true));
    }
  }

  private write(frame: object): void {
    if (!this.sock || this.sock.destroyed) throw new FulcrumError('FULCRUM_DISCONNECTED', 'not connected');
    this.sock.write(encodeFrame(frame));
  }

  private ackOn(socket: Socket, id: MessageId): void {
    if (!socket.destroyed) socket.write(encodeFrame({ type: 'ack', id }));
  }

  /** Acknowledges a message (automatic unless autoAck is false). */
  ack(id: MessageId): void {
    if (this.sock) this.ackOn(this.sock, id);
  }

  /** Resolves once the server processed everything sent before (a ping round trip on the same socket). */
  private sync(): Promise<void> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new FulcrumError('FULCRUM_DISCONNECTED', 'no pong')), this.options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS);
      this.barrier.push({
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.write({ type: 'ping', seq });
    });
  }

  /** Joins a room (kept across re-homes); resolves once the server has taken it in. */
  async join(room: string): Promise<void> {
    this.rooms.add(room);
    this.write({ type: 'join', room });
    await this.sync();
  }

  async leave(room: string): Promise<void> {
    this.rooms.delete(room);
    this.write({ type: 'leave', room });
    await this.sync();
  }

  /** A private message to another user, routed through the cluster; resolves with the `sent` answer. */
  send(to: string, body: unknown): Promise<SendResult> {
    const id = ++this.sendSeq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sends.delete(id);
        reject(new FulcrumError('FULCRUM_SEND_TIMEOUT', `no answer to send ${id}`));
      }, this.options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS);
      this.sends.set(id, { resolve, reject, timer });
      try {
        this.write({ type: 'send', id, to, body });
      } catch (e) {
        clearTimeout(timer);
        this.sends.delete(id);
        reject(e as Error);
      }
    });
  }

  private failSends(e: Error): void {
    for (const p of this.sends.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.sends.clear();
    this.barrier = [];
  }

  /** `delay` is the wait the 'failed' event already announced; the jittered backoff otherwise. */
  private scheduleReconnect(attempt: number, lostName?: string, delay = this.reconnectDelay(attempt)): void {
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      // The server we just lost may still be registered (a crash is noticed only at session timeout).
      this.connect(lostName ? [lostName] : []).then(
        () => {
          this.reconnects++;
        },
        (e: Error) => {
          if (this.closed) return;
          const next = this.reconnectDelay(attempt + 1);
          if (this.listenerCount('failed') > 0) this.emit('failed', e, next);
          else (this.options.logger ?? defaultLogger()).warn({ component: 'ClusterClient', err: e, code: (e as { code?: unknown }).code, delayMs: next }, `reconnect failed: ${e.message}`);
          this.scheduleReconnect(attempt + 1, undefined, next);
        },
      );
    }, delay);
  }

  private reconnectDelay(attempt: number): number {
    return attempt === 0 ? 0 : backoffDelay(attempt, this.options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS, this.options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS);
  }

  /** Closes the connection for good (no re-homing). */
  async disconnect(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const s = this.sock;
    this.sock = undefined;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.destroy();
        resolve();
      }, 1_000);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.end();
    });
  }
}
