// The history chaos run: server processes with Redis history, logged-in users in rooms, sequenced
// pushes and room publishes, and every event a cluster goes through at once — a server killed with
// SIGKILL, a server joining (rebalancing migrates clients), ZooKeeper restarting, a client's
// connection cut. Then every user must hold every message exactly once, in order.
import { randomBytes } from 'node:crypto';
import { BalanceProvider } from '../../balancing/balance-provider.js';
import { ClusterClient } from '../../client/cluster-client.js';
import { DownInstancePolicy } from '../../client/down-instance-policy.js';
import { ServerCache } from '../../discovery/server-cache.js';
import { makeSnapshot } from '../../discovery/snapshot.js';
import type { Logger, LogLevel } from '../../log/logger.js';
import { mapConcurrent } from '../../map-concurrent.js';
import { Router } from '../../messaging/router.js';
import { connectZk } from '../../zk/connect.js';
import { deleteTree, mkdirp } from '../../zk/paths.js';
import { ZkSession } from '../../zk/session.js';
import { NativeZkClient } from '../../zk/zk-client.js';
import { startProxy, type FaultProxy } from '../faults/fault-proxy.js';
import { connectStringOf, startCluster, stopCluster, type ClusterLayout } from '../local-zookeeper.js';
import { ServerRunner } from '../runner/server-runner.js';

export interface ChaosOptions {
  /** A private ZooKeeper the run starts, restarts in the middle and stops. */
  zk: ClusterLayout;
  /** The Redis every server and the pusher keep history in. */
  redis: string;
  /** The `npm test` variant (about 20 s of traffic and one round of faults) instead of the full run. */
  fast: boolean;
  log: (line: string) => void;
  logger: Logger;
  logLevel?: LogLevel;
}

export interface ChaosResult {
  pass: boolean;
  lines: string[];
  metrics: Record<string, number>;
}

const USERS = 200;
const ROOMS = 10;
const SESSION_TIMEOUT_MS = 4_000;
const ZK_OUTAGE_MS = 1_500;
/** The run's own ZooKeeper session (cache, pusher): the most a tickTime of 1 s allows. */
const CLIENT_SESSION_TIMEOUT_MS = 20_000;
/** How long the end waits for every stored message to reach its users. */
const SETTLE_MS = 30_000;

interface Sizes {
  /** Fault rounds; each: kill -9, a server joins, ZooKeeper restarts, a connection is cut. */
  rounds: number;
  /** Gap between two faults. */
  gapMs: number;
  /** Each user's pushes and each room's publishes are this far apart. */
  pushEveryMs: number;
  publishEveryMs: number;
}

const FAST: Sizes = { rounds: 1, gapMs: 2_500, pushEveryMs: 1_000, publishEveryMs: 400 };
const FULL: Sizes = { rounds: 3, gapMs: 4_000, pushEveryMs: 250, publishEveryMs: 100 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one user's client recorded. */
interface UserLog {
  name: string;
  room: string;
  client: ClusterClient;
  pushes: number[];
  rooms: number[];
  /** The client's last events and push answers, shown when its streams come out wrong. */
  trace: string[];
}

const TRACE_LENGTH = 16;

/** The messages each stream was sent, by offset. */
class Sent {
  readonly byStream = new Map<string, Map<number, number>>();
  add(stream: string, offset: number, seq: number): void {
    let m = this.byStream.get(stream);
    if (!m) this.byStream.set(stream, (m = new Map()));
    m.set(offset, seq);
  }
  /** The sequence numbers in offset order. */
  ordered(stream: string): number[] {
    return [...(this.byStream.get(stream) ?? new Map<number, number>())].sort((a, b) => a[0] - b[0]).map(([, seq]) => seq);
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const sizes = o.fast ? FAST : FULL;
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const events: string[] = [];
  const note = (u: UserLog, what: string) => {
    u.trace.push(`${at()} ${what}`);
    if (u.trace.length > TRACE_LENGTH) u.trace.shift();
  };
  const mark = (what: string) => {
    events.push(`${at()} ${what}`);
    o.log(`chaos: ${at()} ${what}`);
  };
  await startCluster(o.zk, { fresh: true });
  const connect = connectStringOf(o.zk);
  const tag = randomBytes(3).toString('hex');
  const base = `/fulcrum-chaos/${tag}`;
  const root = `${base}/servers`;
  const admin = NativeZkClient.of(await connectZk({ connect }));
  await mkdirp(admin, root);
  admin.close();
  const history = { redis: o.redis };
  const runner = new ServerRunner({ count: 3, zk: connect, root, host: '127.0.0.1', sessionTimeoutMs: SESSION_TIMEOUT_MS, rebalance: true, history, logger: o.logger, logLevel: o.logLevel });
  // One session for this process's cache and pusher, long enough to outlive the ZooKeeper restart (the
  // servers' 4 s sessions may expire then: their catch-up is part of what the run checks).
  const session = new ZkSession({ connect, sessionTimeoutMs: CLIENT_SESSION_TIMEOUT_MS });
  const cache = new ServerCache({ session, root });
  cache.on('error', (e) => o.logger.debug({ err: e }, `chaos cache: ${e.message}`));
  const pusher = new Router({ zk: session, root, history, ackTimeoutMs: 2_000 });
  pusher.on('error', (e) => o.logger.debug({ err: e }, `chaos router: ${e.message}`));
  let proxy: FaultProxy | undefined;
  const users: UserLog[] = [];
  const sent = new Sent();
  const failures: string[] = [];
  let pushes = 0;
  let stored = 0;
  let publishes = 0;
  let pushing = true;
  try {
    await runner.start();
    await session.start();
    await cache.start();
    await pusher.start();
    mark('3 servers with Redis history up');
    // The last user reaches server 1 only, through the fault proxy (which cuts its connection later).
    const proxied = runner.servers[1]!;
    proxy = await startProxy(proxied.port);
    const proxySource = { snapshot: async () => makeSnapshot([{ name: proxied.id, ip: '127.0.0.1', port: proxy!.port, balance: 0 }], 1) };
    const provider = new BalanceProvider({ source: cache, root });
    const downPolicy = new DownInstancePolicy();
    for (let i = 0; i < USERS; i++) {
      const last = i === USERS - 1;
      // Names of this run only: the streams of an earlier run stay in Redis for their TTL.
      const u: UserLog = { name: `chaos-${tag}-${i}`, room: `room-${tag}-${i % ROOMS}`, pushes: [], rooms: [], trace: [], client: undefined! };
      u.client = new ClusterClient({ provider: last ? new BalanceProvider({ source: proxySource }) : provider, downPolicy: last ? undefined : downPolicy, key: u.name, logger: o.logger });
      u.client.on('message', (m) => {
        const body = m.body as { p?: number; r?: number };
        if (m.room !== undefined) u.rooms.push(body.r!);
        else u.pushes.push(body.p!);
      });
      u.client.on('failed', () => {});
      u.client.on('stopped', (e) => failures.push(`${u.name} stopped: ${e.message}`));
      const trace = (what: string) => note(u, what);
      u.client.on('loggedIn', (_u, s) => trace(`logged in on ${s}`));
      u.client.on('disconnected', (s) => trace(`disconnected from ${s.name}`));
      u.client.on('migrated', (a, b) => trace(`moved ${a.name} -> ${b.name}`));
      u.client.on('migrateFailed', (e) => trace(`move failed: ${e.message}`));
      u.client.on('kicked', (r) => trace(`kicked ${r}`));
      users.push(u);
    }
    await mapConcurrent(users, 50, async (u) => {
      await u.client.connect({ user: u.name });
      await u.client.join(u.room);
    });
    mark(`${USERS} users logged in, each in one of ${ROOMS} rooms`);

    // Sequenced traffic: per user one push at a time, per room one publish at a time.
    const pushLoop = async (u: UserLog) => {
      for (let seq = 1; pushing; seq++) {
        try {
          const r = await pusher.push(u.name, { p: seq });
          note(u, `push ${seq} at ${r.offset}: ${r.delivered ? `acked on ${r.server}` : r.code}`);
          pushes++;
          if (!r.delivered) stored++;
          sent.add(u.name, r.offset!, seq);
        } catch (e) {
          failures.push(`push ${u.name} #${seq}: ${(e as Error).message}`);
        }
        await sleep(sizes.pushEveryMs * (0.5 + Math.random()));
      }
    };
    const publishLoop = async (room: string) => {
      for (let seq = 1; pushing; seq++) {
        try {
          const r = await pusher.publish(room, { r: seq });
          publishes++;
          sent.add(`#${room}`, r.offset!, seq);
        } catch (e) {
          failures.push(`publish ${room} #${seq}: ${(e as Error).message}`);
        }
        await sleep(sizes.publishEveryMs * (0.5 + Math.random()));
      }
    };
    const traffic = Promise.all([...users.map(pushLoop), ...Array.from({ length: ROOMS }, (_, i) => publishLoop(`room-${tag}-${i}`))]);

    for (let round = 0; round < sizes.rounds; round++) {
      await sleep(sizes.gapMs);
      // Never the proxied client's server: its one route goes through the proxy.
      const victim = runner.servers.find((s) => s.index !== proxied.index && s.child.exitCode === null && s.child.signalCode === null);
      if (victim) {
        runner.signal(victim.index, 'SIGKILL');
        mark(`SIGKILL server ${victim.index} (${victim.id}) holding ${users.filter((u) => u.client.server?.name === victim.id).length} users`);
      }
      await sleep(sizes.gapMs);
      const added = await runner.add();
      mark(`server ${added.index} (${added.id}) joins: rebalancing moves clients to it`);
      await sleep(sizes.gapMs);
      await stopCluster(o.zk);
      mark('ZooKeeper stopped');
      await sleep(ZK_OUTAGE_MS);
      await startCluster(o.zk);
      mark('ZooKeeper started again');
      await sleep(sizes.gapMs);
      await proxy.cut();
      mark(`fault proxy cut ${users[USERS - 1]!.name}'s connection`);
    }
    await sleep(sizes.gapMs);
    pushing = false;
    await traffic;
    mark(`traffic stopped: ${pushes} pushes (${stored} answered stored, not acked), ${publishes} room publishes`);

    // Every user's stream and room, in offset order, exactly once.
    const missing = () =>
      users.filter((u) => u.pushes.length < sent.ordered(u.name).length || u.rooms.length < sent.ordered(`#${u.room}`).length || !u.client.isConnected);
    const settleEnd = Date.now() + SETTLE_MS;
    while (missing().length > 0 && Date.now() < settleEnd) await sleep(100);
    const settledMs = Date.now() - t0;
    let wrong = 0;
    let lost = 0;
    let extra = 0;
    const examples: string[] = [];
    const traces: string[] = [];
    for (const u of users) {
      for (const [got, want, what] of [
        [u.pushes, sent.ordered(u.name), 'pushes'],
        [u.rooms, sent.ordered(`#${u.room}`), u.room],
      ] as const) {
        if (got.length === want.length && got.every((s, i) => s === want[i])) continue;
        wrong++;
        const have = new Set(got);
        const notReceived = want.filter((s) => !have.has(s));
        lost += notReceived.length;
        extra += Math.max(0, got.length - (want.length - notReceived.length));
        if (examples.length < 2) traces.push(`${u.name}: ${u.trace.join(' | ')}`);
        if (examples.length < 5) examples.push(`${u.name} (${u.client.state} on ${u.client.server?.name ?? 'none'}) ${what}: expected ${want.length} (${want.slice(0, 8).join(',')}…), got ${got.length} (${got.slice(0, 8).join(',')}…), missing ${notReceived.slice(0, 8).join(',')}`);
      }
    }
    const duplicates = users.reduce((n, u) => n + u.client.duplicates, 0);
    const migrations = users.reduce((n, u) => n + u.client.migrations, 0);
    const rehomes = users.reduce((n, u) => n + u.client.reconnects, 0);
    const received = users.reduce((n, u) => n + u.pushes.length + u.rooms.length, 0);
    const server = { replayed: 0, gapFills: 0, dropped: 0, lost: 0, failures: 0 };
    for (const s of runner.servers) {
      if (s.child.exitCode !== null || s.child.signalCode !== null) continue;
      const h = (await runner.stats(s.index)).stats.history;
      server.replayed += h?.replayed ?? 0;
      server.gapFills += h?.gapFills ?? 0;
      server.dropped += h?.duplicatesDropped ?? 0;
      server.lost += h?.lost ?? 0;
      server.failures += h?.failures ?? 0;
    }
    const pass = wrong === 0 && failures.length === 0 && pushes > 0 && publishes > 0;
    return {
      pass,
      lines: [
        ...events,
        `settled ${(settledMs / 1000).toFixed(1)} s after the start; ${received} messages received by ${USERS} users`,
        `client side: ${duplicates} duplicates seen and dropped by offset; ${rehomes} re-homes, ${migrations} migrations`,
        `pusher: ${pusher.redelivered} stored pushes sent again when their user's route appeared`,
        `survivors: ${server.replayed} messages replayed from Redis, ${server.gapFills} gap fills, ${server.dropped} deliveries dropped as already sent, ${server.lost} offsets lost, ${server.failures} history failures`,
        wrong === 0 ? `every user holds every push and room message exactly once, in order` : `${wrong} streams wrong: ${lost} messages missing, ${extra} extra; ${examples.join('; ')}`,
        ...traces.map((t) => `trace ${t}`),
        ...(failures.length > 0 ? [`${failures.length} sends failed: ${failures.slice(0, 3).join('; ')}`] : []),
      ],
      metrics: { redelivered: pusher.redelivered, users: USERS, pushes, stored, publishes, received, duplicates, wrong, lost, extra, failures: failures.length, rehomes, migrations, replayed: server.replayed, gapFills: server.gapFills, settledMs },
    };
  } finally {
    pushing = false;
    await Promise.all(users.map((u) => u.client.disconnect().catch(() => {})));
    pusher.close();
    await proxy?.close();
    cache.close();
    await runner.stop();
    session.close();
    const cleanup = await connectZk({ connect, connectTimeoutMs: 5_000 }).catch(() => undefined);
    if (cleanup) {
      await deleteTree(NativeZkClient.of(cleanup), base).catch(() => {});
      cleanup.close();
    }
    await stopCluster(o.zk);
  }
}
