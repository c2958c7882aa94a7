import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { AllServersFailedError, ClosedError, NoServersError, ProtocolError } from '../errors.js';
import type { BalanceProvider } from '../balancing/balance-provider.js';
import type { ServerInfo } from '../discovery/snapshot.js';
import { encodeFrame, FrameDecoder, isMigrate, isPong, type MigrateMessage, type PingMessage } from '../protocol/frames.js';
import { defaultLogger, type Logger } from '../log/logger.js';
import type { DownInstancePolicy } from './down-instance-policy.js';

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
}

/** Exponential backoff with jitter: uniform in [base, min(max, base·2^attempt)]; never above max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(baseMs, maxMs);
  const cap = Math.min(maxMs, base * 2 ** attempt);
  return base + random() * Math.max(0, cap - base);
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

  constructor(private readonly options: ClusterClientOptions) {
    super();
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
  async connect(avoid: Iterable<string> = []): Promise<Socket> {
    if (this.closed) throw new ClosedError('client');
    if (this.isConnected) return this.sock!;
    const { socket, server, pongId } = await this.dial(new Set(avoid), false);
    this.adopt(socket, server);
    this.emit('connected', server, pongId);
    return socket;
  }

  /**
   * Picks and opens a connection without adopting it. On a migration (`migrated`), servers in
   * `tried` stay excluded even when that leaves none: then the client is better off staying.
   */
  private async dial(tried: Set<string>, migrated: boolean): Promise<{ socket: Socket; server: ServerInfo; pongId: string | undefined }> {
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
        const { socket, pongId } = await this.open(server, migrated);
        if (this.closed) {
          socket.destroy();
          throw new ClosedError('client');
        }
        this.options.downPolicy?.succeed(server.name);
        return { socket, server, pongId };
      } catch (e) {
        if (e instanceof ClosedError) throw e;
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

  private open(server: ServerInfo, migrated = false): Promise<{ socket: Socket; pongId: string | undefined }> {
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
        resolve({ socket, pongId });
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

  private adopt(socket: Socket, server: ServerInfo): void {
    this.sock = socket;
    this.current = server;
    socket.on('error', () => {});
    if ((this.options.ping ?? true) && (this.options.migrate ?? true)) {
      // The default protocol sends nothing unasked except `migrate`.
      const decoder = new FrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        let msgs: unknown[];
        try {
          msgs = decoder.push(chunk);
        } catch {
          socket.destroy(); // a broken stream: re-home as after any drop
          return;
        }
        const m = msgs.find(isMigrate);
        if (m) void this.follow(socket, server, m);
      });
    }
    socket.resume(); // do not let bytes pile up
    socket.once('close', () => {
      if (this.sock !== socket) return;
      this.sock = undefined;
      const again = !this.closed && (this.options.reconnect ?? true);
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
      this.adopt(next.socket, next.server);
      this.migrations++;
      this.emit('migrated', from, next.server, m.reason);
      const t = setTimeout(() => old.destroy(), DEFAULT_MIGRATE_CLOSE_MS);
      old.once('close', () => clearTimeout(t));
      old.end();
    } catch (e) {
      if (!(e instanceof ClosedError)) this.emit('migrateFailed', e as Error, from);
    } finally {
      this.migrating = false;
    }
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
