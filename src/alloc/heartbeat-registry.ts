import { EventEmitter } from 'node:events';
import { ClosedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { reportError } from '../log/report-error.js';
import { BalanceUpdater } from '../registry/balance-updater.js';
import { NodeConflictError } from '../registry/registration.js';
import { decodeServerData } from '../server-data.js';
import { isConnectionProblem } from '../zk/codes.js';
import type { ZkSession } from '../zk/session.js';
import { serverName, type HeartbeatRequest } from './heartbeat-request.js';
import { NameTakenError, TooManyRegistrationsError, ZkUnavailableError } from './http-errors.js';

/** Heartbeat registrations the service holds at most; each is a znode plus a timer. */
export const DEFAULT_MAX_HEARTBEAT_SERVERS = 1_000;
/** Wait between attempts to delete the node of an expired server while ZooKeeper is away. */
export const DEFAULT_DELETE_RETRY_MS = 1_000;
/**
 * `id` prefix of nodes written for heartbeat servers. A restarted alloc service may take such a
 * node over from its previous (not yet expired) session; a native server's node it never touches.
 */
export const HEARTBEAT_ID_PREFIX = 'heartbeat:';

export interface HeartbeatRegistryOptions {
  session: ZkSession;
  root: string;
  /** @default DEFAULT_MAX_HEARTBEAT_SERVERS (1000) */
  maxServers?: number;
  /** Passed to each BalanceUpdater. @default DEFAULT_MIN_WRITE_INTERVAL_MS (20) */
  minWriteIntervalMs?: number;
  /** Where background failures go when nobody listens for 'error' (see reportError). @default defaultLogger() */
  logger?: Logger;
}

/** What one heartbeat answered. */
export interface HeartbeatResult {
  name: string;
  /** Epoch ms after which the node is deleted unless another heartbeat arrives. */
  expiresAt: number;
  ttlMs: number;
  /** True when this heartbeat created the registration. */
  created: boolean;
}

/** Public view of one heartbeat registration. */
export interface HeartbeatInfo {
  name: string;
  ttlMs: number;
  expiresAt: number;
  lastHeartbeatAt: number;
  heartbeats: number;
}

/** What a heartbeat may change besides the balance. */
interface Meta {
  maxConnections: number | undefined;
  draining: boolean;
}

interface Entry {
  readonly name: string;
  readonly meta: Meta;
  ttlMs: number;
  expiresAt: number;
  lastHeartbeatAt: number;
  heartbeats: number;
  timer: NodeJS.Timeout | undefined;
  readonly updater: BalanceUpdater;
  /** Settles once the node exists (or the registration failed). */
  ready: Promise<void>;
}

/**
 * Servers that cannot run the ZooKeeper client register over HTTP: the alloc service holds an
 * ephemeral node for each, on its own session, through the same BalanceUpdater (counter set to
 * the heartbeat's absolute count, Registration, NodeWriter) native servers use: versioned,
 * coalesced writes, re-created after session expiry. It makes no ZooKeeper calls of its own. A
 * server whose heartbeats stop is deleted after its TTL.
 */
export class HeartbeatRegistry extends EventEmitter<{ expired: [name: string]; error: [Error] }> {
  private readonly entries = new Map<string, Entry>();
  private readonly maxServers: number;
  private readonly deleteRetries = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Servers dropped because their heartbeats stopped. */
  expiredCount = 0;

  constructor(private readonly options: HeartbeatRegistryOptions) {
    super();
    this.maxServers = Math.max(1, options.maxServers ?? DEFAULT_MAX_HEARTBEAT_SERVERS);
  }

  get size(): number {
    return this.entries.size;
  }

  info(name: string): HeartbeatInfo | undefined {
    const e = this.entries.get(name);
    return e && { name, ttlMs: e.ttlMs, expiresAt: e.expiresAt, lastHeartbeatAt: e.lastHeartbeatAt, heartbeats: e.heartbeats };
  }

  /** Creates the registration on the first heartbeat of `ip:port`, refreshes it on the next ones. */
  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResult> {
    if (this.closed) throw new ClosedError('HeartbeatRegistry');
    const name = serverName(req);
    const known = this.entries.get(name);
    if (known) {
      this.apply(known, req);
      // A heartbeat racing the first one answers once the node exists, or fails like the first.
      await known.ready.catch((e: unknown) => {
        throw createFailure(e, name);
      });
      return { name, expiresAt: known.expiresAt, ttlMs: known.ttlMs, created: false };
    }
    if (this.entries.size >= this.maxServers) throw new TooManyRegistrationsError(this.maxServers);
    // A new node cannot be written now; refuse instead of hanging (existing ones keep updating locally).
    if (!this.options.session.isConnected) throw new ZkUnavailableError();
    const entry = this.createEntry(name, req);
    this.entries.set(name, entry);
    this.arm(entry);
    try {
      await entry.ready;
    } catch (e) {
      if (this.entries.get(name) === entry) this.entries.delete(name);
      clearTimeout(entry.timer);
      await entry.updater.unregister().catch(() => {});
      throw createFailure(e, name);
    }
    return { name, expiresAt: entry.expiresAt, ttlMs: entry.ttlMs, created: true };
  }

  private createEntry(name: string, req: HeartbeatRequest): Entry {
    const now = Date.now();
    // Read at every write, so metadata changed by a later heartbeat is published too.
    const meta: Meta = { maxConnections: req.maxConnections, draining: req.draining === true };
    const updater = new BalanceUpdater({
      session: this.options.session,
      root: this.options.root,
      name,
      // A name held by a native server is refused at once (NameTakenError), not waited for.
      conflictTimeoutMs: 0,
      logger: this.options.logger,
      describe: () => ({
        ip: req.ip,
        port: req.port,
        id: `${HEARTBEAT_ID_PREFIX}${name}`,
        startedAt: now,
        ...(meta.maxConnections !== undefined ? { maxConnections: meta.maxConnections } : {}),
        ...(meta.draining ? { draining: true } : {}),
      }),
      minWriteIntervalMs: this.options.minWriteIntervalMs,
      // A heartbeat node left by an earlier alloc session is ours to take over; a native server's never is.
      replaceForeign: ({ data }) => {
        try {
          return decodeServerData(data).id?.startsWith(HEARTBEAT_ID_PREFIX) === true;
        } catch {
          return false;
        }
      },
    });
    // Set before the node exists, so the very first write already carries the balance.
    updater.set(req.balance);
    updater.on('error', (e) => reportError(this, e, this.options.logger, { component: 'HeartbeatRegistry', server: name }));
    const entry: Entry = {
      name,
      meta,
      ttlMs: req.ttlMs,
      expiresAt: now + req.ttlMs,
      lastHeartbeatAt: now,
      heartbeats: 1,
      timer: undefined,
      updater,
      ready: Promise.resolve(),
    };
    entry.ready = updater.register().then(() => undefined);
    entry.ready.catch(() => {}); // awaited by the first heartbeat; never an unhandled rejection
    return entry;
  }

  /** Brings a known registration up to the heartbeat: absolute balance, metadata, new deadline. */
  private apply(entry: Entry, req: HeartbeatRequest): void {
    entry.updater.set(req.balance);
    const draining = req.draining === true;
    if (entry.meta.maxConnections !== req.maxConnections || entry.meta.draining !== draining) {
      entry.meta.maxConnections = req.maxConnections;
      entry.meta.draining = draining;
      entry.updater.touch();
    }
    entry.ttlMs = req.ttlMs;
    entry.lastHeartbeatAt = Date.now();
    entry.heartbeats++;
    this.arm(entry);
  }

  private arm(entry: Entry): void {
    clearTimeout(entry.timer);
    entry.expiresAt = Date.now() + entry.ttlMs;
    entry.timer = setTimeout(() => {
      this.expiredCount++;
      void this.remove(entry.name).then(() => this.emit('expired', entry.name));
    }, entry.ttlMs);
    entry.timer.unref();
  }

  /** Deletes the registration at once; false when `name` is not a heartbeat server held here. */
  async unregister(name: string): Promise<boolean> {
    if (!this.entries.has(name)) return false;
    await this.remove(name);
    return true;
  }

  private async remove(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    clearTimeout(entry.timer);
    await entry.ready.catch(() => {});
    const sessionId = this.options.session.sessionId;
    try {
      await entry.updater.unregister();
    } catch {
      // ZooKeeper away: a dead server must not stay listed while our session lives on.
      this.retryDelete(entry, sessionId);
    }
  }

  private retryDelete(entry: Entry, sessionId: string | undefined): void {
    const name = entry.name;
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.deleteRetries.delete(timer);
      // A new session has no node of the old one; a new heartbeat for the name owns it again.
      if (this.closed || this.entries.has(name) || this.options.session.sessionId !== sessionId) return;
      entry.updater.registration.deleteOwnedNode(() => !this.entries.has(name)).catch(() => this.retryDelete(entry, sessionId));
    }, DEFAULT_DELETE_RETRY_MS);
    timer.unref();
    this.deleteRetries.add(timer);
  }

  /** Deletes every node held here and stops all timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.deleteRetries) clearTimeout(t);
    this.deleteRetries.clear();
    await Promise.all([...this.entries.keys()].map((name) => this.remove(name)));
  }
}

/** What a failed first registration means to the caller: ZooKeeper away is a 503 to retry. */
function createFailure(e: unknown, name: string): unknown {
  if (e instanceof NodeConflictError) return new NameTakenError(name);
  return isConnectionProblem(e) ? new ZkUnavailableError({ cause: e }) : e;
}
