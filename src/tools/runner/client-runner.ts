import { EventEmitter } from 'node:events';
import { Semaphore } from 'async-mutex';
import { BalanceProvider } from '../../balancing/balance-provider.js';
import { ClusterClient } from '../../client/cluster-client.js';
import { DownInstancePolicy } from '../../client/down-instance-policy.js';
import { CLIENT_MIN_READ_INTERVAL_MS, ServerCache } from '../../discovery/server-cache.js';
import { ZkReadSource } from '../../discovery/read-servers.js';
import type { ServerInfo, ServerSource } from '../../discovery/snapshot.js';
import { ZkSession } from '../../zk/session.js';
import type { LoginOptions } from '../../client/login.js';
import type { ReceivedMessage } from '../../client/messaging-session.js';
import { defaultLogger, type Logger } from '../../log/logger.js';
import { FulcrumError } from '../../errors.js';

/** ZooKeeper sessions the reads of independent clients go through (a session per client would cost ZooKeeper more than the test measures). */
export const READ_SESSIONS = 8;
/**
 * Independent clients reading ZooKeeper at the same moment. Bounded because one test process
 * plays every device: unbounded, ZooKeeper would answer all reads at once and the process
 * would pick on answers it had queued for seconds.
 */
export const DEFAULT_CONCURRENT_READS = 256;

export interface ClientRunnerOptions {
  count: number;
  /** Gap between client starts; 0 starts them all at once (a burst). */
  staggerMs: number;
  session: ZkSession;
  root: string;
  /** Strategy name. @default the provider's default */
  strategy?: string;
  /** `cache`: one watch-driven cache for all clients; `read`: every client reads all nodes itself. @default 'cache' */
  discovery?: 'cache' | 'read';
  /** Count this process's unreported picks. @default true */
  pending?: boolean;
  /**
   * Independent pickers the clients are dealt over (client i uses picker i % pickers), each with
   * its own pending picks, as if they ran in that many processes. @default 1
   */
  pickers?: number;
  /**
   * Every client is its own device: its own BalanceProvider (own pending picks), its own
   * DownInstancePolicy and its own fresh ZooKeeper read per pick, sharing no picker state with
   * the others. The reads go through a pool of READ_SESSIONS sessions, at most
   * `concurrentReads` at a time, so each read sees ZooKeeper as it is when that client reads. Overrides
   * `discovery` and `pickers`. @default false
   */
  independent?: boolean;
  /** Independent clients reading at the same moment. @default DEFAULT_CONCURRENT_READS (256) */
  concurrentReads?: number;
  /** Re-home when a server goes away. @default true */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  /** Log client i in as this user (e.g. `user-${i}`, with a token); it logs in again after each re-home. @default no login */
  login?: (index: number) => LoginOptions;
  /** Where the runner logs discovery errors and client failures. @default defaultLogger() */
  logger?: Logger;
}

export interface ClientRunnerEvents {
  connected: [index: number, server: ServerInfo];
  failed: [index: number, err: Error];
  rehomed: [index: number, server: ServerInfo];
  /** A server asked the client to move and its new connection is up (the old one closes next). */
  migrated: [index: number, from: ServerInfo, to: ServerInfo];
  /** The client's connection dropped (it re-homes unless stopped). */
  dropped: [index: number, server: ServerInfo];
  /** A logged-in client received a message (and acknowledged it). */
  message: [index: number, message: ReceivedMessage];
  /** The server refused the client's login or kicked it: it does not reconnect. */
  stopped: [index: number, err: Error];
}

const codeOf = (e: Error) => (e instanceof FulcrumError ? e.code : (e as { code?: string }).code);

/**
 * Spawns M clients S ms apart; each discovers and connects on its own, through a shared picker
 * (or `pickers` of them), or with `independent` through a picker of its own.
 */
export class ClientRunner extends EventEmitter<ClientRunnerEvents> {
  readonly clients: ClusterClient[] = [];
  readonly downPolicy = new DownInstancePolicy();
  readonly providers: BalanceProvider[];
  readonly cache: ServerCache | undefined;
  /** The read pool of independent clients (empty otherwise); closed by stop(). */
  private readonly readSessions: ZkSession[] = [];
  private readonly readSlots: Semaphore | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private halted = false;
  private readonly log: Logger;
  connected = 0;
  failed = 0;
  /** Moves on a server's request, over all clients. */
  migrations = 0;
  /** Connections that dropped under a client (a migration never counts here). */
  drops = 0;
  /** Messages received per client (index), when they log in. */
  readonly received: number[] = [];
  /** Messages received by all clients. */
  messages = 0;
  /** Clients the server refused or kicked (they do not reconnect). */
  stopped = 0;

  constructor(private readonly options: ClientRunnerOptions) {
    super();
    this.log = options.logger ?? defaultLogger();
    if (options.independent) {
      const n = Math.max(1, Math.min(READ_SESSIONS, options.count));
      for (let i = 0; i < n; i++) this.readSessions.push(new ZkSession({ ...options.session.options }));
      this.readSlots = new Semaphore(Math.max(1, options.concurrentReads ?? DEFAULT_CONCURRENT_READS));
      this.providers = [];
      return;
    }
    let source: ServerSource;
    if ((options.discovery ?? 'cache') === 'cache') {
      this.cache = new ServerCache({ session: options.session, root: options.root, minReadIntervalMs: CLIENT_MIN_READ_INTERVAL_MS });
      this.cache.on('error', (e) => this.log.warn({ err: e, code: codeOf(e) }, `server cache: ${e.message}`));
      source = this.cache;
    } else {
      source = new ZkReadSource(options.session, options.root);
    }
    const pickers = Math.max(1, Math.min(options.pickers ?? 1, options.count));
    this.providers = Array.from(
      { length: pickers },
      () => new BalanceProvider({ source, root: options.root, strategy: options.strategy, pending: options.pending, isQuarantined: this.downPolicy.isQuarantined, isFailing: this.downPolicy.hasFailed }),
    );
  }

  /** Adds and connects one more client (e.g. for churn); resolves when it connected or failed. */
  addClient(): Promise<void> {
    return this.launch(this.clients.length);
  }

  /** Starts every client; resolves when each has connected or failed once. */
  async start(): Promise<{ connected: number; failed: number }> {
    await this.options.session.start();
    await this.cache?.start();
    await Promise.all(this.readSessions.map((s) => s.start()));
    const attempts: Promise<void>[] = [];
    for (let i = 0; i < this.options.count && !this.halted; i++) {
      attempts.push(this.launch(i));
      if (this.options.staggerMs > 0 && i < this.options.count - 1) await this.sleep(this.options.staggerMs);
    }
    await Promise.all(attempts);
    return { connected: this.connected, failed: this.failed };
  }

  /** An independent client's own picker and failure memory; nothing is shared but the read pool. */
  private ownPicker(i: number): { provider: BalanceProvider; downPolicy: DownInstancePolicy } {
    const downPolicy = new DownInstancePolicy();
    const read = new ZkReadSource(this.readSessions[i % this.readSessions.length]!, this.options.root);
    const slots = this.readSlots!;
    const source: ServerSource = { snapshot: () => slots.runExclusive(() => read.snapshot()) };
    const provider = new BalanceProvider({ source, root: this.options.root, strategy: this.options.strategy, pending: this.options.pending, isQuarantined: downPolicy.isQuarantined, isFailing: downPolicy.hasFailed });
    this.providers.push(provider);
    return { provider, downPolicy };
  }

  private launch(i: number): Promise<void> {
    const { provider, downPolicy } = this.options.independent ? this.ownPicker(i) : { provider: this.providers[i % this.providers.length]!, downPolicy: this.downPolicy };
    const client = new ClusterClient({
      provider,
      downPolicy,
      key: `client-${i}`,
      reconnect: this.options.reconnect ?? true,
      connectTimeoutMs: this.options.connectTimeoutMs,
      login: this.options.login?.(i),
    });
    this.clients.push(client);
    this.received[i] = 0;
    let first = true;
    client.on('message', (m) => {
      this.received[i]!++;
      this.messages++;
      this.emit('message', i, m);
    });
    client.on('stopped', (e) => {
      this.stopped++;
      this.log.warn({ err: e, code: codeOf(e), client: i }, `client ${i} stopped: ${e.message}`);
      this.emit('stopped', i, e);
    });
    client.on('connected', (server) => {
      if (!first) {
        this.log.debug({ client: i, server: server.name }, `client ${i} re-homed to ${server.name}`);
        this.emit('rehomed', i, server);
      }
    });
    client.on('migrated', (from, to) => {
      this.migrations++;
      this.emit('migrated', i, from, to);
    });
    client.on('disconnected', (server) => {
      if (this.halted) return;
      this.drops++;
      this.emit('dropped', i, server);
    });
    return client.connect().then(
      () => {
        first = false;
        this.connected++;
        this.emit('connected', i, client.server!);
      },
      (e: Error) => {
        first = false;
        this.failed++;
        this.log.warn({ err: e, code: codeOf(e), client: i }, `client ${i} could not connect: ${e.message}`);
        this.emit('failed', i, e);
      },
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        r();
      }, ms);
      this.timers.add(t);
    });
  }

  /** Live connections per server name, as the clients see them. */
  countsByServer(): Map<string, number> {
    const m = new Map<string, number>();
    for (const c of this.clients) if (c.isConnected && c.server) m.set(c.server.name, (m.get(c.server.name) ?? 0) + 1);
    return m;
  }

  get liveClients(): number {
    return this.clients.filter((c) => c.isConnected).length;
  }

  /** Disconnects every client and stops watching; does not close the session. */
  async stop(): Promise<void> {
    this.halted = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.clients.map((c) => c.disconnect()));
    this.cache?.close();
    for (const s of this.readSessions) s.close();
  }
}
