import { EventEmitter, once } from 'node:events';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Snapshot } from '../discovery/snapshot.js';
import { FulcrumError, InvalidArgumentError } from '../errors.js';
import { encodeFrame, type MigrateMessage } from '../protocol/frames.js';
import type { Logger } from '../log/logger.js';
import { reportError } from '../log/report-error.js';
import { BalanceUpdater, type BalanceWriteStats } from '../registry/balance-updater.js';
import { digestId } from '../registry/registration.js';
import { publishDelay, type PublishPolicyOptions } from '../registry/publish-policy.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { ZkSession } from '../zk/session.js';
import { AcceptRateMeter } from './accept-rate.js';
import { PingProtocol } from './ping-handler.js';
import { connectionOf, type FrameProtocol } from './transport/client-connection.js';
import { ClientPort } from './transport/client-port.js';
import { checkTlsServerOptions, TLS_HANDSHAKE_TIMEOUT_MS, type TlsServerOptions } from './transport/tls-options.js';
import type { ConnectionInfo } from './rebalance-plan.js';
import { Rebalancer, resolveRebalancerOptions, type RebalancerOptions, type RebalancerStats } from './rebalancer.js';

export const DEFAULT_HOST = '127.0.0.1';
/** Time over which close() spreads the closing of client sockets; 0 closes them at once. */
export const DEFAULT_DRAIN_MS = 0;
/** A non-protocol connection closed for rebalancing is destroyed if it has not closed by then. */
export const GRACEFUL_CLOSE_MS = 2_000;

export class ListenError extends FulcrumError {
  constructor(address: string, options?: { cause?: unknown }) {
    const code = (options?.cause as { code?: string } | undefined)?.code;
    super('FULCRUM_LISTEN', `cannot listen on ${address}${code ? ` (${code === 'EADDRINUSE' ? 'port in use' : code})` : ''}`, options);
  }
}

export interface ClusterServerOptions {
  /** A connect string (the server owns its session) or a shared ZkSession. */
  zk: string | ZkSession;
  /** @default DEFAULT_ROOT ('/fulcrum/servers') */
  root?: string;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Address published for clients; needed when `host` is a wildcard. @default host */
  advertise?: string;
  /** @default 0 (any free port) */
  port?: number;
  /**
   * The server's one name: its node under the root, its pong id (and, for a MessagingServer, its
   * routes, welcomes and gateway results). A ZooKeeper node name: no '/', not '.' or '..', no
   * control characters, at most 128 UTF-8 bytes. @default `${advertise}:${port}` (`[ip6]:port`)
   */
  id?: string;
  /** Connections beyond this are closed at once and never counted. @default unlimited */
  maxConnections?: number;
  /**
   * Your connection handler: it gets each accepted socket's bytes as they come (no WebSocket on
   * the port). Default: fulcrum frames (the ping protocol, or `protocol`), raw or over WebSocket.
   */
  handler?: (socket: Socket, server: ClusterServer) => void;
  /** The frame protocol spoken on the port when there is no `handler` (a MessagingServer passes its own). @default ping/pong */
  protocol?: FrameProtocol;
  /**
   * Accept WebSocket clients on the same port (an upgrade at `/ws`; binary messages carry the
   * frames) besides raw frames. Ignored with a `handler`. @default true
   */
  websocket?: boolean;
  /**
   * Serve the client port over TLS with this certificate and key: raw frames and WebSocket (wss)
   * alike; a client that does not speak TLS is closed before anything it sent is read. @default plain TCP
   */
  tls?: TlsServerOptions;
  /** Gap between balance writes; events inside it are batched. @default 20 */
  minWriteIntervalMs?: number;
  /** @default 10000 */
  sessionTimeoutMs?: number;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /**
   * `user:password`: authenticate the session and protect the node (and the root) with digest
   * ACLs: anyone reads, only this identity writes, deletes or registers. Every server sharing a
   * root must use the same credentials.
   */
  digest?: string;
  /** @default DEFAULT_DRAIN_MS (0) */
  drainMs?: number;
  /** Messaging gateway address to publish in the node, read at each write (see MessagingServer). @default none */
  gateway?: () => { ip: string; port: number } | undefined;
  /** The message history the server uses, published as `history` in its node (see MessagingServer). @default none */
  history?: string;
  /** The gateway speaks TLS (published as `gatewayTls`; see MessagingServer). @default false */
  gatewayTls?: boolean;
  /** Runs after the port is bound and before the node is registered (e.g. open the messaging gateway). @default none */
  beforeRegister?: () => Promise<void>;
  /**
   * Move clients away while this server holds clearly more than its share (see Rebalancer):
   * `true` for the defaults, or the settings. @default false
   */
  rebalance?: boolean | RebalancerOptions;
  /** Where background failures go when nobody listens for 'error' (see reportError). @default defaultLogger() */
  logger?: Logger;
  /** Disable Nagle on accepted sockets so a small reply leaves at once. @default true */
  noDelay?: boolean;
  /**
   * Adaptive balance publishing (see publish-policy.ts): changes that matter for picking (first
   * connections, the cap, draining, a large relative change) are written after the minimum gap,
   * small ones coalesce for up to `maxDelayMs` (1 s); the last value is always written. `false`
   * writes every change after the minimum gap. @default true (the policy's defaults)
   */
  publishPolicy?: boolean | PublishPolicyOptions;
}

export interface ClusterServerStats extends BalanceWriteStats {
  balance: number;
  accepted: number;
  refused: number;
  protocolErrors: number;
  reregistrations: number;
  /** Present when rebalancing is on. */
  rebalance?: RebalancerStats;
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);
const ignore = () => {};

/** Published only while the server accepts, so a quiet server's node stays as it was. */
function acceptRateField(perSecond: number): { acceptRate?: number } {
  return perSecond > 0 ? { acceptRate: Math.round(perSecond) } : {};
}

/** Longest server id, in UTF-8 bytes (ids travel in routes and gateway frames as names). */
export const MAX_SERVER_ID_BYTES = 128;

/** A usable server id: a ZooKeeper node name of at most MAX_SERVER_ID_BYTES. */
export function isServerId(id: string): boolean {
  return id.length > 0 && id !== '.' && id !== '..' && !/[/\u0000-\u001f\u007f-\u009f]/.test(id) && Buffer.byteLength(id) <= MAX_SERVER_ID_BYTES;
}

/**
 * A net.Server that publishes its live connection count in ZooKeeper. Bind with listen(),
 * leave with close(): the node goes first, then the sockets.
 */
export class ClusterServer extends EventEmitter<{ connection: [Socket]; refused: [Socket]; registered: [string]; balanceWritten: [balance: number, seconds: number]; error: [Error] }> {
  readonly server: net.Server;
  readonly session: ZkSession;
  private readonly ownsSession: boolean;
  private readonly sockets = new Set<Socket>();
  private readonly info = new WeakMap<Socket, ConnectionInfo>();
  readonly root: string;
  private rebalancer: Rebalancer | undefined;
  private othersMin: { snapshot: Snapshot; min: number | undefined } | undefined;
  private updater: BalanceUpdater | undefined;
  private address: { ip: string; port: number } | undefined;
  private serverId: string | undefined;
  private draining = false;
  private closing: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private readonly counters = { accepted: 0, refused: 0, protocolErrors: 0 };
  private readonly acceptRate = new AcceptRateMeter();
  private readonly port: ClientPort | undefined;

  constructor(private readonly options: ClusterServerOptions) {
    super();
    this.root = validateRoot(options.root ?? DEFAULT_ROOT);
    const max = options.maxConnections;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw InvalidArgumentError.format('maxConnections', `must be a non-negative integer, got ${max}`);
    const host = options.host ?? DEFAULT_HOST;
    const advertise = options.advertise ?? host;
    if (WILDCARD.has(advertise)) throw InvalidArgumentError.format('advertise', `must be a reachable address when listening on ${host || 'all interfaces'}`);
    if (options.id !== undefined && !isServerId(options.id)) throw InvalidArgumentError.format('id', `must be a ZooKeeper node name (no '/', not '.' or '..', no control characters, 1-${MAX_SERVER_ID_BYTES} bytes), got ${JSON.stringify(options.id)}`);
    if (options.digest !== undefined) digestId(options.digest); // throws InvalidArgumentError unless user:password
    checkTlsServerOptions('tls', options.tls);
    if (options.rebalance) resolveRebalancerOptions(options.rebalance === true ? {} : options.rebalance); // fail now, not at listen()
    if (typeof options.zk === 'string') {
      this.session = new ZkSession({ connect: options.zk, sessionTimeoutMs: options.sessionTimeoutMs, connectTimeoutMs: options.connectTimeoutMs, digest: options.digest, logger: options.logger });
      this.ownsSession = true;
    } else {
      this.session = options.zk;
      this.ownsSession = false;
    }
    // On a TLS port a socket is counted once its handshake is done: one that never completes it is never counted.
    this.server = options.tls
      ? tls.createServer({ cert: options.tls.cert, key: options.tls.key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (socket) => this.accept(socket))
      : net.createServer((socket) => this.accept(socket));
    if (options.tls) this.server.on('tlsClientError', (_e, socket: Socket) => socket.destroy());
    this.port = options.handler ? undefined : new ClientPort({ protocol: options.protocol ?? this.pingProtocol(), websocket: options.websocket ?? true });
  }

  get id(): string {
    return this.serverId ?? '';
  }


  /** The advertised address once listening. */
  get endpoint(): { ip: string; port: number } | undefined {
    return this.address;
  }

  get balance(): number {
    return this.updater?.balance ?? 0;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get nodePath(): string | undefined {
    return this.updater?.path;
  }

  /** True while the node exists for our current session, as far as the registration knows. */
  get isRegistered(): boolean {
    return this.updater?.registration.registered ?? false;
  }

  get stats(): ClusterServerStats {
    const w = this.updater?.stats ?? { events: 0, writes: 0, badVersion: 0, failures: 0 };
    const rebalance = this.rebalancer ? { rebalance: { ...this.rebalancer.stats } } : {};
    return { ...w, ...this.counters, balance: this.balance, reregistrations: this.updater?.registration.reregistrations ?? 0, ...rebalance };
  }

  /** Binds the socket, then registers the node (so the published address already accepts). */
  async listen(): Promise<{ ip: string; port: number }> {
    const host = this.options.host ?? DEFAULT_HOST;
    const port = this.options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw InvalidArgumentError.format('port', `must be 0-65535, got ${port}`);
    try {
      this.server.listen({ host, port });
      await once(this.server, 'listening');
    } catch (cause) {
      throw new ListenError(`${host}:${port}`, { cause });
    }
    const bound = this.server.address() as net.AddressInfo;
    const ip = this.options.advertise ?? host;
    this.address = { ip, port: bound.port };
    this.serverId = this.options.id ?? `${ip.includes(':') ? `[${ip}]` : ip}:${bound.port}`;
    if (this.options.beforeRegister) {
      try {
        await this.options.beforeRegister();
      } catch (e) {
        this.server.close();
        if (this.ownsSession) this.session.close();
        throw e;
      }
    }
    const gateway = this.options.gateway;
    const describe = () => ({
      ip,
      port: bound.port,
      id: this.serverId,
      startedAt: this.startedAt,
      ...(this.options.maxConnections !== undefined ? { maxConnections: this.options.maxConnections } : {}),
      ...(this.draining ? { draining: true } : {}),
      ...((g) => (g ? { gatewayIp: g.ip, gatewayPort: g.port } : {}))(gateway?.()),
      ...(this.options.history ? { history: this.options.history } : {}),
      ...acceptRateField(this.acceptRate.perSecond()),
      transports: [...this.transports],
      ...(this.options.tls ? { tls: true } : {}),
      ...(this.options.gatewayTls ? { gatewayTls: true } : {}),
    });
    const policy = this.options.publishPolicy ?? true;
    const policyOpts: PublishPolicyOptions | undefined = policy === true ? {} : policy || undefined;
    const maxConnections = this.options.maxConnections;
    this.updater = new BalanceUpdater({
      session: this.session,
      root: this.root,
      name: this.serverId,
      describe,
      digest: this.options.digest,
      minWriteIntervalMs: this.options.minWriteIntervalMs,
      publishPolicy: policyOpts && ((state) => publishDelay(state, { metadataChanged: state.metadataChanged, maxConnections, clusterMin: this.othersMinBalance() }, { minIntervalMs: this.options.minWriteIntervalMs, ...policyOpts })),
      observeWrite: (outcome, seconds) => {
        if (outcome.kind === 'written') this.emit('balanceWritten', outcome.value.balance, seconds);
      },
    });
    this.updater.on('error', (e) => reportError(this, e, this.options.logger, { component: 'ClusterServer', server: this.serverId }));
    try {
      await this.updater.register();
    } catch (e) {
      this.server.close();
      if (this.ownsSession) this.session.close();
      throw e;
    }
    this.emit('registered', this.updater.path);
    const rb = this.options.rebalance;
    if (rb && !this.draining) {
      this.rebalancer = new Rebalancer(
        { id: this.id, session: this.session, root: this.root, connections: () => this.connectionEntries(), migrate: (s, reason, exclude) => this.migrate(s, { reason, exclude }) },
        rb === true ? {} : rb,
      );
      this.rebalancer.start();
    }
    return this.address;
  }

  /**
   * The lowest balance among the other live, non-draining servers, known only when this server
   * already watches the cluster (rebalancing on): watching just for this would make every server
   * re-read every other's writes.
   */
  private othersMinBalance(): number | undefined {
    if (!this.rebalancer) return undefined;
    // Asked on every connection event: scan the servers once per picture, not once per event.
    const snapshot = this.rebalancer.cache.current();
    if (this.othersMin?.snapshot !== snapshot) {
      let min: number | undefined;
      for (const s of snapshot.servers) {
        if (s.name !== this.id && !s.draining && (min === undefined || s.balance < min)) min = s.balance;
      }
      this.othersMin = { snapshot, min };
    }
    return this.othersMin.min;
  }

  private accept(socket: Socket): void {
    socket.on('error', ignore); // a reset client must not crash the server
    if (this.options.noDelay ?? true) socket.setNoDelay(true);
    const max = this.options.maxConnections;
    if (this.draining || (max !== undefined && this.sockets.size >= max)) {
      this.counters.refused++;
      socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
      this.emit('refused', socket);
      return;
    }
    this.sockets.add(socket);
    this.info.set(socket, { acceptedAt: Date.now(), protocol: false, migratedIn: false });
    this.counters.accepted++;
    this.acceptRate.record();
    this.updater?.increase();
    socket.on('close', this.onSocketClose);
    if (this.options.handler) this.options.handler(socket, this);
    else this.port!.accept(socket);
    this.emit('connection', socket);
  }

  /** One listener shared by every socket (emitters call it with the socket as `this`): a closure per socket costs memory at 100k. */
  private readonly onSocketClose = ((server: ClusterServer) =>
    function (this: Socket): void {
      if (server.sockets.delete(this)) server.updater?.decrease();
    })(this);

  private pingProtocol(): FrameProtocol {
    // The id is known once listening; the protocol reads it per pong.
    const server = this;
    return new PingProtocol({
      get id() {
        return server.id;
      },
      onProtocolError: () => this.counters.protocolErrors++,
      onPing: (socket, ping) => this.markProtocol(socket, { migrated: ping.migrated === true }),
    });
  }

  /** What the client port accepts: `tcp` (raw frames) and, for frame protocols unless turned off, `ws`. */
  get transports(): readonly string[] {
    return this.port?.transports ?? ['tcp'];
  }

  /** Whether the client port speaks TLS. */
  get tls(): boolean {
    return this.options.tls !== undefined;
  }

  /**
   * Records that a connection speaks fulcrum frames (so it is asked to move with `migrate`, not
   * closed) and whether it arrived through a migration. The default handler calls it on each
   * ping; a custom handler that speaks the frames calls it itself.
   */
  markProtocol(socket: Socket, opts: { migrated?: boolean } = {}): void {
    const info = this.info.get(socket);
    if (!info) return;
    info.protocol = true;
    if (opts.migrated) info.migratedIn = true;
  }

  /** What the server knows about one live connection. */
  connectionInfo(socket: Socket): Readonly<ConnectionInfo> | undefined {
    return this.sockets.has(socket) ? this.info.get(socket) : undefined;
  }

  private *connectionEntries(): Iterable<[Socket, ConnectionInfo]> {
    for (const s of this.sockets) {
      const info = this.info.get(s);
      if (info && !s.destroyed) yield [s, info];
    }
  }

  /**
   * Asks one connection to move: a fulcrum client gets a `migrate` frame (it reconnects elsewhere,
   * then closes this one); any other client gets a graceful close (FIN), destroyed after
   * GRACEFUL_CLOSE_MS. Returns which of the two happened, or 'gone' for an unknown socket.
   */
  migrate(socket: Socket, opts: { reason?: string; exclude?: readonly string[] } = {}): 'asked' | 'closed' | 'gone' {
    const info = this.connectionInfo(socket);
    if (!info || socket.destroyed) return 'gone';
    if (info.protocol) {
      const frame: MigrateMessage = { type: 'migrate', reason: opts.reason ?? 'rebalance', exclude: [...new Set([this.id, ...(opts.exclude ?? [])])] };
      // Through the connection's transport (a WebSocket frames it); a custom handler's socket gets the raw frame.
      const conn = connectionOf(socket);
      if (conn) conn.write(encodeFrame(frame));
      else socket.write(encodeFrame(frame));
      return 'asked';
    }
    socket.end();
    setTimeout(() => socket.destroy(), GRACEFUL_CLOSE_MS).unref();
    return 'closed';
  }

  /** The rebalancing loop when `rebalance` is on (its cache, stats, last plan; `tick()` to drive it). */
  get rebalancing(): Rebalancer | undefined {
    return this.rebalancer;
  }

  /** Live client sockets (read-only view). */
  get connections(): ReadonlySet<Socket> {
    return this.sockets;
  }

  /** Resolves once ZooKeeper holds the current balance. */
  flushed(): Promise<void> {
    return this.updater?.flushed() ?? Promise.resolve();
  }

  /**
   * Leaves discovery first (deletes the node), stops accepting, then closes client sockets,
   * spread over `drainMs` so clients re-home gradually.
   */
  close(opts: { drainMs?: number } = {}): Promise<void> {
    this.closing ??= this.doClose(opts.drainMs ?? this.options.drainMs ?? DEFAULT_DRAIN_MS);
    return this.closing;
  }

  private async doClose(drainMs: number): Promise<void> {
    this.draining = true;
    this.rebalancer?.stop();
    try {
      await this.updater?.unregister();
    } catch {
      // ZooKeeper away: the node dies with the session below.
    }
    const closed = this.server.listening ? new Promise<void>((r) => this.server.close(() => r())) : Promise.resolve();
    const list = [...this.sockets];
    if (drainMs > 0 && list.length > 1) {
      const gap = drainMs / list.length;
      for (const s of list) {
        connectionOf(s)?.flush(); // what the protocol wrote this turn goes first
        s.end();
        await new Promise((r) => setTimeout(r, gap));
      }
    } else {
      for (const s of list) {
        connectionOf(s)?.flush();
        s.end();
      }
    }
    const deadline = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 2_000);
    await closed;
    clearTimeout(deadline);
    if (this.ownsSession) this.session.close();
  }
}
