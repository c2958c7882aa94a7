import { EventEmitter, once } from 'node:events';
import net, { type Socket } from 'node:net';
import { FulcrumError, InvalidArgumentError } from '../errors.js';
import { BalanceUpdater, type BalanceWriteStats } from '../registry/balance-updater.js';
import { digestId, Registration } from '../registry/registration.js';
import { publishDelay, type PublishPolicyOptions } from '../registry/publish-policy.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { ZkSession } from '../zk/session.js';
import { pingHandler } from './ping-handler.js';

export const DEFAULT_HOST = '127.0.0.1';
/** Time over which close() spreads the closing of client sockets; 0 closes them at once. */
export const DEFAULT_DRAIN_MS = 0;

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
  /** Node name and pong id. @default `${advertise}:${port}` */
  id?: string;
  /** Connections beyond this are closed at once and never counted. @default unlimited */
  maxConnections?: number;
  /** Your connection handler; the default answers length-prefixed msgpack pings. */
  handler?: (socket: Socket, server: ClusterServer) => void;
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
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);
const ignore = () => {};

/**
 * A net.Server that publishes its live connection count in ZooKeeper. Bind with listen(),
 * leave with close(): the node goes first, then the sockets.
 */
export class ClusterServer extends EventEmitter<{ connection: [Socket]; refused: [Socket]; registered: [string]; balanceWritten: [balance: number]; error: [Error] }> {
  readonly server: net.Server;
  readonly session: ZkSession;
  private readonly ownsSession: boolean;
  private readonly sockets = new Set<Socket>();
  private readonly root: string;
  private updater: BalanceUpdater | undefined;
  private registration: Registration | undefined;
  private address: { ip: string; port: number } | undefined;
  private serverId: string | undefined;
  private draining = false;
  private closing: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private readonly counters = { accepted: 0, refused: 0, protocolErrors: 0 };

  constructor(private readonly options: ClusterServerOptions) {
    super();
    this.root = validateRoot(options.root ?? DEFAULT_ROOT);
    const max = options.maxConnections;
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw InvalidArgumentError.format('maxConnections', `must be a non-negative integer, got ${max}`);
    const host = options.host ?? DEFAULT_HOST;
    const advertise = options.advertise ?? host;
    if (WILDCARD.has(advertise)) throw InvalidArgumentError.format('advertise', `must be a reachable address when listening on ${host || 'all interfaces'}`);
    if (options.digest !== undefined) digestId(options.digest); // throws InvalidArgumentError unless user:password
    if (typeof options.zk === 'string') {
      this.session = new ZkSession({ connect: options.zk, sessionTimeoutMs: options.sessionTimeoutMs, connectTimeoutMs: options.connectTimeoutMs, digest: options.digest });
      this.ownsSession = true;
    } else {
      this.session = options.zk;
      this.ownsSession = false;
    }
    this.server = net.createServer((socket) => this.accept(socket));
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
    return this.registration?.path;
  }

  /** True while the node exists for our current session, as far as the registration knows. */
  get isRegistered(): boolean {
    return this.registration?.registered ?? false;
  }

  get stats(): ClusterServerStats {
    const w = this.updater?.stats ?? { events: 0, writes: 0, badVersion: 0, failures: 0 };
    return { ...w, ...this.counters, balance: this.balance, reregistrations: this.registration?.reregistrations ?? 0 };
  }

  /** The "bind" seam: listen, then register the node. */
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
    const describe = () => ({
      ip,
      port: bound.port,
      id: this.serverId,
      startedAt: this.startedAt,
      ...(this.options.maxConnections !== undefined ? { maxConnections: this.options.maxConnections } : {}),
      ...(this.draining ? { draining: true } : {}),
    });
    const policy = this.options.publishPolicy ?? true;
    const policyOpts: PublishPolicyOptions | undefined = policy === true ? {} : policy || undefined;
    const maxConnections = this.options.maxConnections;
    this.updater = new BalanceUpdater({
      zk: () => this.session.zk,
      describe,
      minWriteIntervalMs: this.options.minWriteIntervalMs,
      publishPolicy: policyOpts && ((st) => publishDelay(st, { metadataChanged: st.metadataChanged, maxConnections }, { minIntervalMs: this.options.minWriteIntervalMs, ...policyOpts })),
    });
    // Sockets accepted before registration are already counted by the updater's local counter.
    for (let i = 0; i < this.sockets.size; i++) this.updater.increase();
    this.registration = new Registration({ session: this.session, root: this.root, name: this.serverId.replace(/\//g, '_'), updater: this.updater, digest: this.options.digest });
    this.registration.on('error', (e) => this.emitError(e));
    this.updater.on('error', (e) => this.emitError(e));
    this.updater.on('written', (b) => this.emit('balanceWritten', b));
    try {
      await this.registration.register();
    } catch (e) {
      this.server.close();
      if (this.ownsSession) this.session.close();
      throw e;
    }
    this.emit('registered', this.registration.path);
    return this.address;
  }

  private emitError(e: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
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
    this.counters.accepted++;
    this.updater?.increase();
    socket.on('close', this.onSocketClose);
    const handler = this.options.handler ?? this.defaultHandler();
    handler(socket, this);
    this.emit('connection', socket);
  }

  /** One listener shared by every socket (emitters call it with the socket as `this`): a closure per socket costs memory at 100k. */
  private readonly onSocketClose = ((server: ClusterServer) =>
    function (this: Socket): void {
      if (server.sockets.delete(this)) server.updater?.decrease();
    })(this);

  private defaultHandlerFn: ((socket: Socket) => void) | undefined;
  private defaultHandler(): (socket: Socket) => void {
    this.defaultHandlerFn ??= pingHandler({ id: this.id, onProtocolError: () => this.counters.protocolErrors++ });
    return this.defaultHandlerFn;
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
    try {
      await this.registration?.unregister();
    } catch {
      // ZooKeeper away: the node dies with the session below.
    }
    const closed = this.server.listening ? new Promise<void>((r) => this.server.close(() => r())) : Promise.resolve();
    const list = [...this.sockets];
    if (drainMs > 0 && list.length > 1) {
      const gap = drainMs / list.length;
      for (const s of list) {
        s.end();
        await new Promise((r) => setTimeout(r, gap));
      }
    } else {
      for (const s of list) s.end();
    }
    const deadline = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, 2_000);
    await closed;
    clearTimeout(deadline);
    this.updater?.close();
    if (this.ownsSession) this.session.close();
  }
}
