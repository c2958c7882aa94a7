// The soak: messaging servers, watching caches, churning clients and logged-in users in their own
// processes, all talking to ZooKeeper through a fault proxy that cuts and black-holes it while
// processes are paused and resumed; pushes with acks throughout. Then it checks that nothing
// aborted, every balance is exact, every cache tells the truth and every acked push arrived.
import { fileURLToPath } from 'node:url';
import { decodeServerData } from '../../server-data.js';
import { Router } from '../../messaging/router.js';
import { ZkSession } from '../../zk/session.js';
import { mkdirp } from '../../zk/paths.js';
import { FulcrumError } from '../../errors.js';
import type { Logger, LogLevel } from '../../log/logger.js';
import { ServerRunner } from '../runner/server-runner.js';
import { ChildWorker } from '../child-ipc.js';
import { firstPort, startProxy, type FaultProxy } from '../faults/fault-proxy.js';
import { mulberry32 } from '../seeded-random.js';
import { faultPlan, type Fault, type FaultKind } from './fault-plan.js';
import type { Picture, WorkerConfig, WorkerReport, WorkerRole } from './soak-worker.js';

const WORKER = fileURLToPath(new URL('./soak-worker.js', import.meta.url));

export const DEFAULT_SOAK_SESSION_TIMEOUT_MS = 4_000;
/** Pushes waiting for their ack at once, at most. */
const MAX_PUSHES_IN_FLIGHT = 64;
const PUSH_ACK_TIMEOUT_MS = 2_000;
/** How long the end waits for re-homing, balances and caches to settle once the faults stop. */
const SETTLE_TIMEOUT_MS = 60_000;

export interface SoakOptions {
  /** ZooKeeper (its first member is what the fault proxy forwards to). */
  zk: string;
  /** Servers root, fresh for this run (routes beside it). */
  root: string;
  durationMs: number;
  seed: number;
  servers: number;
  /** Processes of watching caches, and caches in each. */
  watchers: number;
  caches: number;
  /** Processes of churning clients, and client slots in each. */
  churners: number;
  churnClients: number;
  users: number;
  pushesPerSecond: number;
  /** Session timeout of every handle behind the proxy. @default DEFAULT_SOAK_SESSION_TIMEOUT_MS */
  sessionTimeoutMs?: number;
  /** Mean quiet time between two faults. */
  faultGapMs: number;
  /** Log level of the processes the soak starts. */
  logLevel: LogLevel;
  logger: Logger;
  /** Progress lines (every 10 s and at each phase). */
  progress: (line: string) => void;
}

export interface ProcessExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It ended before the soak asked it to. */
  unasked: boolean;
}

export interface SoakCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SoakReport {
  seconds: number;
  faults: Record<FaultKind, { short: number; long: number }>;
  watch: { snapshots: number; replaced: number; errors: number };
  /** Caches replaced because their first start failed (a ServerCache does not retry its start). */
  cacheRestarts: number;
  churn: { connects: number; disconnects: number; failed: number };
  pushes: { sent: number; acked: number; notAcked: Record<string, number> };
  users: { messages: number; relogins: number; stopped: number; stops: Record<string, number> };
  reregistrations: number;
  serverErrorLines: number;
  exits: ProcessExit[];
  checks: SoakCheck[];
  passed: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it answers true or `timeoutMs` passed; returns its last answer. */
async function settle(fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(250);
  }
}

interface Worker {
  name: string;
  role: WorkerRole;
  process: ChildWorker;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const sessionTimeoutMs = o.sessionTimeoutMs ?? DEFAULT_SOAK_SESSION_TIMEOUT_MS;
  const random = mulberry32(o.seed);
  const exits: ProcessExit[] = [];
  let stopping = false;
  const watchExit = (name: string, child: { once(e: 'exit', l: (code: number | null, signal: NodeJS.Signals | null) => void): unknown }) =>
    child.once('exit', (code, signal) => exits.push({ name, code, signal, unasked: !stopping }));
  const report: SoakReport = {
    seconds: o.durationMs / 1000,
    faults: { cut: { short: 0, long: 0 }, partition: { short: 0, long: 0 }, 'pause-server': { short: 0, long: 0 }, 'pause-watcher': { short: 0, long: 0 } },
    watch: { snapshots: 0, replaced: 0, errors: 0 },
    cacheRestarts: 0,
    churn: { connects: 0, disconnects: 0, failed: 0 },
    pushes: { sent: 0, acked: 0, notAcked: {} },
    users: { messages: 0, relogins: 0, stopped: 0, stops: {} },
    reregistrations: 0,
    serverErrorLines: 0,
    exits,
    checks: [],
    passed: false,
  };

  const admin = new ZkSession({ connect: o.zk, logger: o.logger });
  let proxy: FaultProxy | undefined;
  let servers: ServerRunner | undefined;
  const workers: Worker[] = [];
  let push: Router | undefined;
  const paused = new Set<{ kill(sig: NodeJS.Signals): unknown }>();
  try {
    await mkdirp(await admin.startClient(), o.root);
    proxy = await startProxy(firstPort(o.zk));
    watchExit('fault proxy', proxy.child);
    const behindProxy = `127.0.0.1:${proxy.port}`;
    servers = new ServerRunner({
      count: o.servers,
      zk: behindProxy,
      root: o.root,
      host: '127.0.0.1',
      sessionTimeoutMs,
      rebalance: true,
      logLevel: o.logLevel,
      logger: o.logger,
      onStderr: (_i, line) => {
        if (/"level":(50|60)\b/.test(line)) report.serverErrorLines++;
        process.stderr.write(`${line}\n`);
      },
    });
    for (const s of await servers.start()) watchExit(`server ${s.index}`, s.child);
    const spawn = (role: WorkerRole, index: number, size: number, everyMs: number) => {
      const cfg: WorkerConfig = { role, index, zk: behindProxy, root: o.root, sessionTimeoutMs, seed: (o.seed * 31 + workers.length) >>> 0, logLevel: o.logLevel, size, everyMs };
      const w: Worker = { name: `${role} ${index}`, role, process: new ChildWorker(WORKER, [JSON.stringify(cfg)]) };
      watchExit(w.name, w.process.child);
      workers.push(w);
    };
    for (let i = 0; i < o.watchers; i++) spawn('watch', i, o.caches, 1_000);
    for (let i = 0; i < o.churners; i++) spawn('churn', i, o.churnClients, 25);
    if (o.users > 0) spawn('users', 0, o.users, 250);
    const of = (role: WorkerRole) => workers.filter((w) => w.role === role);
    const users = Array.from({ length: o.users }, (_, i) => `soak-0-${i}`);
    push = new Router({ zk: admin, root: o.root });
    await push.start();
    o.progress(`started: ${o.servers} servers, ${o.watchers} × ${o.caches} watching caches, ${o.churners} × ${o.churnClients} churning clients, ${o.users} users; ZooKeeper through the fault proxy at ${behindProxy}`);

    // The faults, one at a time.
    let running = true;
    const next = faultPlan(random, { sessionTimeoutMs, servers: o.servers, watchers: o.watchers });
    const apply = async (f: Fault) => {
      report.faults[f.kind][f.long ? 'long' : 'short']++;
      if (f.kind === 'cut') return proxy!.cut();
      if (f.kind === 'partition') {
        await proxy!.blackhole('stall');
        await sleep(f.ms);
        return proxy!.blackhole(false);
      }
      const target = f.kind === 'pause-server' ? servers!.servers[f.target]!.child : of('watch')[f.target]!.process.child;
      paused.add(target);
      target.kill('SIGSTOP');
      await sleep(f.ms);
      target.kill('SIGCONT');
      paused.delete(target);
    };
    const faults = (async () => {
      while (running) {
        await apply(next());
        await sleep(Math.round(o.faultGapMs * (0.5 + random())));
      }
    })();

    // Pushes with acks, to random users.
    const acked = new Map<string, string>();
    const inFlight = new Set<Promise<void>>();
    const pushes = (async () => {
      if (users.length === 0) return;
      const gap = 1000 / o.pushesPerSecond;
      while (running) {
        await sleep(gap);
        if (inFlight.size >= MAX_PUSHES_IN_FLIGHT) continue;
        const user = users[Math.floor(random() * users.length)]!;
        report.pushes.sent++;
        const p = push!.push(user, { soak: report.pushes.sent }, { ackTimeoutMs: PUSH_ACK_TIMEOUT_MS }).then(
          (r) => {
            acked.set(r.id, user);
            report.pushes.acked++;
          },
          (e: unknown) => {
            const code = e instanceof FulcrumError ? e.code : 'FULCRUM_INTERNAL';
            report.pushes.notAcked[code] = (report.pushes.notAcked[code] ?? 0) + 1;
          },
        );
        const tracked = p.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
    })();

    const t0 = Date.now();
    while (Date.now() - t0 < o.durationMs) {
      await sleep(Math.min(10_000, o.durationMs - (Date.now() - t0)));
      const f = Object.values(report.faults).reduce((n, k) => n + k.short + k.long, 0);
      o.progress(`${Math.round((Date.now() - t0) / 1000)} s: ${f} faults, ${report.pushes.acked}/${report.pushes.sent} pushes acked, ${exits.length} processes exited`);
    }
    running = false;
    await Promise.all([faults, pushes]);
    await Promise.all(inFlight);
    o.progress('faults stopped; settling');

    // The end: stop churning, let everybody re-home, then compare with the truth.
    await Promise.all([...of('churn'), ...of('users')].map((w) => w.process.request('quiesce', {}, 30_000)));
    const usersWorker = of('users')[0];
    const allUsersBack = await settle(async () => (usersWorker ? (await usersWorker.process.request<WorkerReport>('report', {}, 5_000)).connected === o.users : true), SETTLE_TIMEOUT_MS);
    report.checks.push({ name: 'users back', ok: allUsersBack, detail: usersWorker ? `${(await usersWorker.process.request<WorkerReport>('report', {}, 5_000)).connected}/${o.users} users connected and logged in` : 'no users' });

    let balanceDetail = '';
    const balancesExact = await settle(async () => {
      const rows = await Promise.all(
        servers!.servers.map(async (s) => {
          const { live } = await servers!.stats(s.index);
          const node = await admin.client.get(s.path).then((n) => decodeServerData(n.data).balance, () => undefined);
          return { name: s.id, live, node };
        }),
      );
      const total = rows.reduce((n, r) => n + r.live, 0);
      balanceDetail = `${rows.map((r) => `${r.name} live ${r.live} ZooKeeper ${r.node ?? 'missing'}`).join(', ')}; ${total} live = ${o.users} users`;
      return rows.every((r) => r.node === r.live) && total === o.users;
    }, SETTLE_TIMEOUT_MS);
    report.checks.push({ name: 'balances exact', ok: balancesExact, detail: balanceDetail });

    let cacheDetail = '';
    const cachesTrue = await settle(async () => {
      const truth: Picture = {};
      for (const s of servers!.servers) truth[s.id] = decodeServerData((await admin.client.get(s.path)).data).balance;
      const want = JSON.stringify(Object.entries(truth).sort());
      const pictures = (await Promise.all(of('watch').map((w) => w.process.request<Picture[]>('pictures', {}, 5_000)))).flat();
      const wrong = pictures.filter((p) => JSON.stringify(Object.entries(p).sort()) !== want);
      cacheDetail = `${pictures.length - wrong.length}/${pictures.length} caches show ZooKeeper's ${o.servers} servers and balances`;
      return wrong.length === 0;
    }, SETTLE_TIMEOUT_MS);
    report.checks.push({ name: 'caches tell the truth', ok: cachesTrue, detail: cacheDetail });

    const received = usersWorker ? await usersWorker.process.request<Record<string, (string | number)[]>>('received', {}, 30_000) : {};
    const got = new Map(Object.entries(received).map(([u, ids]) => [u, new Set(ids.map(String))]));
    const missing = [...acked].filter(([id, user]) => !got.get(user)?.has(id));
    report.checks.push({ name: 'acked pushes received', ok: missing.length === 0, detail: `${(acked.size - missing.length).toLocaleString('en-US')}/${acked.size.toLocaleString('en-US')} acked pushes received by their user's client${missing.length ? `; missing e.g. ${missing.slice(0, 3).map(([id, u]) => `${id} → ${u}`).join(', ')}` : ''}` });

    for (const w of workers) {
      const r = await w.process.request<WorkerReport>('report', {}, 5_000);
      report.cacheRestarts += r.restarts;
      if (w.role === 'watch') Object.assign(report.watch, { snapshots: report.watch.snapshots + r.events, replaced: report.watch.replaced + r.cycles, errors: report.watch.errors + r.failures });
      if (w.role === 'churn') Object.assign(report.churn, { connects: report.churn.connects + r.events, disconnects: report.churn.disconnects + r.cycles, failed: report.churn.failed + r.failures });
      if (w.role === 'users') Object.assign(report.users, { messages: r.events, relogins: r.cycles, stopped: r.failures, stops: r.stops });
    }
    for (const s of servers.servers) report.reregistrations += (await servers.stats(s.index)).stats.reregistrations;
  } finally {
    stopping = true;
    for (const p of paused) p.kill('SIGCONT');
    await proxy?.blackhole(false).catch(() => {});
    push?.close();
    await Promise.all(workers.map((w) => w.process.request('stop', {}, 30_000).catch(() => w.process.stop())));
    await Promise.all(workers.map((w) => w.process.exited));
    await servers?.stop();
    await proxy?.close();
    admin.close();
  }
  const bad = exits.filter((e) => e.unasked || e.code !== 0 || e.signal !== null);
  const started = o.servers + workers.length + 1;
  report.checks.push({
    name: 'no aborts',
    ok: bad.length === 0 && exits.length === started,
    detail: `${exits.length}/${started} processes exited, ${bad.length} of them badly${bad.length ? `: ${bad.map((e) => `${e.name} ${e.signal ?? `code ${e.code}`}${e.unasked ? ' (unasked)' : ''}`).join(', ')}` : ''}`,
  });
  report.passed = report.checks.every((c) => c.ok);
  return report;
}
