// One soak worker process, driven over IPC by runSoak (run-soak.ts). Every ZooKeeper handle here
// goes through the soak's fault proxy. Roles:
//   watch  many watching caches, each on its own session; one is closed and replaced now and then
//   churn  clients that connect and disconnect at random (the balance churn the caches re-read)
//   users  logged-in clients that record every message they receive; one re-logs in now and then
import { BalanceProvider } from '../../balancing/balance-provider.js';
import { ClusterClient } from '../../client/cluster-client.js';
import { CLIENT_MIN_READ_INTERVAL_MS, ServerCache } from '../../discovery/server-cache.js';
import { ZkSession } from '../../zk/session.js';
import { mulberry32 } from '../seeded-random.js';
import { serveRequests } from '../child-ipc.js';
import { toolLogger } from '../log/tool-logger.js';
import type { LogLevel } from '../../log/logger.js';

export type WorkerRole = 'watch' | 'churn' | 'users';

export interface WorkerConfig {
  role: WorkerRole;
  /** Index among the workers of its role (names users, seeds the PRNG). */
  index: number;
  zk: string;
  root: string;
  sessionTimeoutMs: number;
  seed: number;
  logLevel: LogLevel;
  /** watch: caches; churn: client slots; users: users. */
  size: number;
  /** watch: replace a cache this often; churn: one connect or disconnect this often; users: one re-login this often. */
  everyMs: number;
}

/** What a watching cache sees: server name → balance. */
export type Picture = Record<string, number>;

export interface WorkerReport {
  role: WorkerRole;
  /** watch: snapshots published by the caches; churn: connects; users: messages received. */
  events: number;
  /** watch: caches replaced; churn: disconnects; users: re-logins. */
  cycles: number;
  /** Failed connects (churn), cache errors (watch), stopped clients (users). */
  failures: number;
  /** Clients connected now (churn, users). */
  connected: number;
  /** users: why clients stopped (a code, with the kick reason). */
  stops: Record<string, number>;
  /** Caches replaced because their first start failed (ZooKeeper unreachable then). */
  restarts: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const log = toolLogger({ name: `soak-${config.role}`, level: config.logLevel, bindings: { worker: config.index } });
const random = mulberry32(config.seed);
const report: WorkerReport = { role: config.role, events: 0, cycles: 0, failures: 0, connected: 0, stops: {}, restarts: 0 };
let ticker: NodeJS.Timeout | undefined;
const closers: (() => Promise<void> | void)[] = [];

function session(): ZkSession {
  const s = new ZkSession({ connect: config.zk, sessionTimeoutMs: config.sessionTimeoutMs, logger: log });
  s.on('error', (e) => log.warn({ err: e }, `ZooKeeper session: ${e.message}`));
  return s;
}

/**
 * A session and its watching cache. A ServerCache whose first start failed (ZooKeeper unreachable
 * for the whole connect timeout, as in a partition) never starts again, so it is replaced.
 */
class WatchedServers {
  private session: ZkSession;
  private cache: ServerCache;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly onSnapshot?: () => void) {
    this.session = session();
    this.cache = this.open();
  }

  private open(): ServerCache {
    const cache = new ServerCache({ session: this.session, root: config.root, minReadIntervalMs: CLIENT_MIN_READ_INTERVAL_MS });
    if (this.onSnapshot) cache.on('snapshot', this.onSnapshot);
    cache.on('error', () => report.failures++);
    cache.start().catch(() => {
      if (this.closed || this.cache !== cache) return;
      report.restarts++;
      this.retry = setTimeout(() => {
        this.closeHandles();
        this.session = session();
        this.cache = this.open();
      }, 250);
    });
    return cache;
  }

  /** For a BalanceProvider: always the current cache. */
  readonly source = { snapshot: () => this.cache.snapshot() };

  picture(): Picture {
    return Object.fromEntries(this.cache.current().servers.map((s) => [s.name, s.balance]));
  }

  private closeHandles(): void {
    this.cache.close();
    this.session.close();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.closeHandles();
  }
}

function watchRole(): { pictures: () => Picture[] } {
  const caches: WatchedServers[] = [];
  const open = () => caches.push(new WatchedServers(() => report.events++));
  for (let i = 0; i < config.size; i++) open();
  ticker = setInterval(() => {
    // Closing a handle frees its poll handle; the next one opened may reuse that memory and fd number.
    caches.splice(Math.floor(random() * caches.length), 1)[0]!.close();
    open();
    report.cycles++;
  }, config.everyMs);
  closers.push(() => {
    for (const c of caches) c.close();
  });
  return { pictures: () => caches.map((c) => c.picture()) };
}

function churnRole(): { quiesce: () => Promise<void> } {
  const servers = new WatchedServers();
  const provider = new BalanceProvider({ source: servers.source, root: config.root, strategy: 'least' });
  const slots: (ClusterClient | undefined)[] = Array.from({ length: config.size }, () => undefined);
  const busy = new Set<number>();
  ticker = setInterval(() => {
    const i = Math.floor(random() * slots.length);
    if (busy.has(i)) return;
    busy.add(i);
    const c = slots[i];
    const done = () => busy.delete(i);
    if (c) {
      slots[i] = undefined;
      report.cycles++;
      void c.disconnect().finally(done);
    } else {
      const client = new ClusterClient({ provider, reconnect: false, logger: log });
      client.connect().then(
        () => {
          slots[i] = client;
          report.events++;
          done();
        },
        () => {
          report.failures++;
          done();
        },
      );
    }
  }, config.everyMs);
  const quiesce = async () => {
    clearInterval(ticker);
    ticker = undefined;
    while (busy.size > 0) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(slots.map((c) => c?.disconnect()));
    slots.fill(undefined);
  };
  closers.push(async () => {
    await quiesce();
    servers.close();
  });
  setInterval(() => (report.connected = slots.filter((c) => c?.isConnected).length), 200).unref();
  return { quiesce };
}

function usersRole(): { received: () => Record<string, (string | number)[]>; quiesce: () => void; connected: () => number } {
  const servers = new WatchedServers();
  const provider = new BalanceProvider({ source: servers.source, root: config.root, strategy: 'least' });
  const received = new Map<string, (string | number)[]>();
  const clients: ClusterClient[] = [];
  const relogging = new Set<number>();
  const login = (i: number) => {
    const user = `soak-${config.index}-${i}`;
    const client = new ClusterClient({ provider, reconnect: true, backoffMaxMs: 1_000, logger: log });
    client.on('message', (m) => {
      report.events++;
      received.get(user)!.push(m.id);
    });
    client.on('stopped', (e) => {
      report.failures++;
      const why = 'reason' in e ? `${e.code} ${e.reason}` : e.code;
      report.stops[why] = (report.stops[why] ?? 0) + 1;
      log.warn({ err: e, user }, `${user} stopped: ${e.message}`);
      // The soak's own re-logins race the connection they replace: when the older login wins (its
      // server stored it last), the newer client is kicked as replaced. The user logs in again, as an
      // application would from its one device; the stop stays counted in the report.
      if ('reason' in e && e.reason === 'replaced' && clients[i] === client && !relogging.has(i)) setTimeout(() => clients[i] === client && login(i), 100);
    });
    client.on('failed', () => {}); // re-homing rounds that fail while ZooKeeper is away: expected here
    clients[i] = client;
    // Not connecting now is fine: a re-homing client keeps trying on its own.
    client.connect({ user }).catch(() => {
      if (client.state === 'idle') setTimeout(() => client.state === 'idle' && login(i), 500);
    });
  };
  for (let i = 0; i < config.size; i++) {
    received.set(`soak-${config.index}-${i}`, []);
    login(i);
  }
  ticker = setInterval(() => {
    const i = Math.floor(random() * clients.length);
    if (relogging.has(i)) return;
    relogging.add(i);
    report.cycles++;
    void clients[i]!.disconnect().then(() => {
      relogging.delete(i);
      login(i);
    });
  }, config.everyMs);
  const connected = () => clients.filter((c) => c.isConnected && c.state === 'connected').length;
  closers.push(async () => {
    clearInterval(ticker);
    await Promise.all(clients.map((c) => c.disconnect()));
    servers.close();
  });
  setInterval(() => (report.connected = connected()), 200).unref();
  return {
    received: () => Object.fromEntries(received),
    quiesce: () => {
      clearInterval(ticker);
      ticker = undefined;
    },
    connected,
  };
}

const role = config.role === 'watch' ? watchRole() : config.role === 'churn' ? churnRole() : usersRole();

serveRequests({
  report: () => ({ ...report, ...('connected' in role ? { connected: role.connected() } : {}) }),
  pictures: () => ('pictures' in role ? role.pictures() : []),
  received: () => ('received' in role ? role.received() : {}),
  quiesce: async () => {
    if ('quiesce' in role) await role.quiesce();
    return true;
  },
  async stop() {
    clearInterval(ticker);
    for (const close of closers) await close();
    setImmediate(() => process.exit(0));
    return true;
  },
});
