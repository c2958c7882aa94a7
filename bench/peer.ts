// The messaging peer, like HAProxy is for balancing: fulcrum (2 MessagingServer processes, the
// library Router) beside Socket.IO v4 with the Redis adapter (2 server processes, Debian's
// redis-server started by the local launcher), same driver shape on both sides, each driver in
// its own process, rounds interleaved. Measures push send → client ack at 1 and 64 in flight,
// acked pushes/s, room publish and broadcast until the last receipt, RSS per idle logged-in user.
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type ZooKeeper from 'zookeeper';
import { Redis } from 'ioredis';
import { DEFAULT_SERVER_NODE_FLAGS, ServerRunner } from '../src/tools/runner/server-runner.js';
import { freePort } from '../src/tools/local-daemon.js';
import { startRedis, stopRedis, type LocalRedisSpec } from '../src/tools/local-redis.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { mkdirp } from '../src/zk/paths.js';
import { BenchChild } from './child-ipc.js';
import { median, medianOfRounds, summarize, type Summary } from './percentiles.js';
import { rssBytes } from './rss.js';
import type { UsersTarget } from './driver-peer-users.js';
import type { PusherTarget } from './driver-peer-pusher.js';

export const DEFAULT_PEER_USERS = 10_000;
/** Interleaved measuring rounds (after one warm-up round) per measure. */
export const DEFAULT_PEER_ROUNDS = 8;
/** Pushes per round one at a time, and with 64 in flight. */
const SEQUENTIAL = 200;
const CONCURRENT = 2_000;
const IN_FLIGHT = 64;
/** Members of the small room, and the users left online for the broadcast to 1,000. */
const SMALL = 1_000;
export const RECEIPT_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 60_000;
/** Pause after each fan-out so its acks and garbage do not land in the next measurement. */
const FANOUT_GAP_MS = 300;

export interface PeerOptions {
  zk: string;
  /** A fresh ZooKeeper path for this part; the fulcrum servers register below it. */
  base: string;
  admin: ZooKeeper;
  /** Logged-in users per side. @default DEFAULT_PEER_USERS */
  users?: number;
  /** @default DEFAULT_PEER_ROUNDS */
  rounds?: number;
  log?: (s: string) => void;
}

export interface PeerPair<T> {
  fulcrum: T;
  socketio: T;
}

export interface MemoryRow {
  flags: string;
  /** RSS of the 2 server processes above idle, per logged-in user. */
  perUser: PeerPair<number>;
  /** RSS growth per user over the second half logged in (without one-time growth). */
  marginal: PeerPair<number>;
}

export interface PeerResult {
  users: number;
  rounds: number;
  versions: { socketio: string; adapter: string; client: string; redis: string };
  flags: PeerPair<string>;
  /** Send → ack, median over rounds of each round's percentiles (ms). */
  push: { inFlight: number; latency: PeerPair<Summary> }[];
  /** Acked pushes per second with 64 in flight, median over rounds. */
  pushRate: PeerPair<number>;
  /** Pushes that failed or were not acked in time, and publishes that failed. */
  failed: PeerPair<number>;
  /** Send → last receipt (ms), median over rounds. */
  fanout: { label: string; recipients: number; ms: PeerPair<number>; missing: PeerPair<number> }[];
  /** Messages received beyond the expected ones (duplicates), summed over every fan-out. */
  extra: PeerPair<number>;
  memory: MemoryRow[];
  durationMs: number;
}

type SideName = keyof PeerPair<unknown>;

interface Side {
  name: SideName;
  users: BenchChild;
  pusher: BenchChild;
  pids: number[];
  /** Connections the servers hold. */
  live(): Promise<number>;
  /** Resolves once the pusher can reach `n` users (fulcrum: routes visible; Socket.IO: adapters subscribed). */
  ready(n: number): Promise<void>;
  stop(): Promise<void>;
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const fmt = (s: Summary) => `p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`peer bench: ${what} not reached within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function drivers(users: UsersTarget, pusher: PusherTarget): Promise<{ users: BenchChild; pusher: BenchChild }> {
  const u = new BenchChild('./driver-peer-users.js');
  const p = new BenchChild('./driver-peer-pusher.js');
  await Promise.all([u.request('init', { target: users }), p.request('init', { target: pusher })]);
  return { users: u, pusher: p };
}

async function startFulcrum(o: PeerOptions, label: string, execArgv?: string[]): Promise<Side> {
  const root = `${o.base}/${label}/servers`;
  await mkdirp(NativeZkClient.of(o.admin), root);
  const runner = new ServerRunner({ count: 2, zk: o.zk, root, host: '127.0.0.1', logLevel: 'warn', ...(execArgv ? { execArgv } : {}) });
  try {
    const servers = await runner.start();
    const d = await drivers({ kind: 'fulcrum', zk: o.zk, root }, { kind: 'fulcrum', zk: o.zk, root });
    const live = async () => (await Promise.all(servers.map((s) => runner.stats(s.index)))).reduce((a, s) => a + s.live, 0);
    return {
      name: 'fulcrum',
      ...d,
      pids: servers.map((s) => s.pid),
      live,
      async ready(n) {
        if (!(await d.pusher.request<boolean>('ready', { users: n, timeoutMs: READY_TIMEOUT_MS }))) throw new Error(`peer bench: fulcrum routes of ${n} users not visible`);
        await until(async () => (await live()) === n, READY_TIMEOUT_MS, `fulcrum: ${n} connections`);
      },
      async stop() {
        await Promise.all([d.users.stop(), d.pusher.stop()]);
        await runner.stop();
      },
    };
  } catch (e) {
    await runner.stop();
    throw e;
  }
}

async function startSocketIo(redisUrl: string, execArgv: string[]): Promise<Side> {
  const servers = [0, 1].map(() => new BenchChild('./server-socketio.js', [], { execArgv }));
  try {
    const listening = await Promise.all(servers.map((s) => s.request<{ port: number; pid: number }>('listen', { redis: redisUrl })));
    const d = await drivers({ kind: 'socketio', urls: listening.map((l) => `http://127.0.0.1:${l.port}`) }, { kind: 'socketio', redis: redisUrl });
    const live = async () => (await Promise.all(servers.map((s) => s.request<{ clients: number }>('stats')))).reduce((a, s) => a + s.clients, 0);
    return {
      name: 'socketio',
      ...d,
      pids: listening.map((l) => l.pid),
      live,
      async ready(n) {
        if (!(await d.pusher.request<boolean>('ready', { servers: servers.length, timeoutMs: READY_TIMEOUT_MS }))) throw new Error('peer bench: Socket.IO adapters not subscribed');
        await until(async () => (await live()) === n, READY_TIMEOUT_MS, `Socket.IO: ${n} connections`);
      },
      async stop() {
        await Promise.all([d.users.stop(), d.pusher.stop(), ...servers.map((s) => s.stop())]);
      },
    };
  } catch (e) {
    await Promise.all(servers.map((s) => s.stop()));
    throw e;
  }
}

async function login(side: Side, from: number, n: number, online: number): Promise<void> {
  await side.users.request('login', { from, n });
  await side.ready(online);
}

/** Logs in `total` users in two halves; RSS of the server processes read idle and after each half (1 s to settle, no forced GC). */
async function loginMeasuringRss(side: Side, total: number, log: (s: string) => void): Promise<{ perUser: number; marginal: number }> {
  const rss = () => side.pids.reduce((a, pid) => a + rssBytes(pid), 0);
  await sleep(1_000);
  const idle = rss();
  const half = Math.floor(total / 2);
  await login(side, 0, half, half);
  await sleep(1_000);
  const halfRss = rss();
  await login(side, half, total - half, total);
  await sleep(1_000);
  const full = rss();
  log(`    ${side.name} RSS: idle ${n0(idle / 1024)} KB, ${n0(half)} users ${n0(halfRss / 1024)} KB, ${n0(total)} users ${n0(full / 1024)} KB`);
  return { perUser: (full - idle) / total, marginal: (full - halfRss) / (total - half) };
}

/** One fan-out: send → the last of `recipients` receipts, on the machine-wide clock. */
async function fanoutOnce(side: Side, room: string | undefined, recipients: number): Promise<{ ms: number; missing: number; extra: number }> {
  const extra = await side.users.request<number>('expect', { n: recipients });
  const sentAt = await side.pusher.request<number>('fanout', { room });
  const r = await side.users.request<{ received: number; lastAt: number }>('receipts', { timeoutMs: RECEIPT_TIMEOUT_MS });
  await sleep(FANOUT_GAP_MS);
  const missing = Math.max(0, recipients - r.received);
  return { ms: missing ? Number.NaN : r.lastAt - sentAt, missing, extra };
}

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  // Some packages do not export package.json; read it next to the resolved entry point's package root.
  const entry = require.resolve(name);
  const root = entry.slice(0, entry.lastIndexOf(`/node_modules/${name}/`) + `/node_modules/${name}/`.length);
  return (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;
}

async function redisVersion(url: string): Promise<string> {
  const r = new Redis(url);
  try {
    return /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? '?';
  } finally {
    r.disconnect();
  }
}

export async function runPeer(o: PeerOptions): Promise<PeerResult> {
  const t0 = Date.now();
  const log = o.log ?? (() => {});
  const total = o.users ?? DEFAULT_PEER_USERS;
  const rounds = o.rounds ?? DEFAULT_PEER_ROUNDS;
  const small = Math.min(SMALL, total);
  const redisSpec: LocalRedisSpec = { dir: '.redis/bench', port: await freePort() };
  const redis = await startRedis(redisSpec, { fresh: true, log });
  const sides: Side[] = [];
  const stopSides = async () => {
    for (const s of sides.splice(0)) await s.stop().catch(() => {});
  };
  try {
    const versions = { socketio: packageVersion('socket.io'), adapter: packageVersion('@socket.io/redis-adapter'), client: packageVersion('socket.io-client'), redis: await redisVersion(redis.url) };
    const runnerFlags = [...process.execArgv, ...DEFAULT_SERVER_NODE_FLAGS];

    // The sides measured throughout: fulcrum with ServerRunner's defaults, Socket.IO with Node's.
    log(`  peer: starting both sides, logging in ${total.toLocaleString('en-US')} users each...`);
    sides.push(await startFulcrum(o, 'main'), await startSocketIo(redis.url, []));
    const [fulcrum, socketio] = sides as [Side, Side];
    const mainRss = { fulcrum: await loginMeasuringRss(fulcrum, total, log), socketio: await loginMeasuringRss(socketio, total, log) };

    // Push to one user, send → ack.
    log('  peer: pushes...');
    const per = { fulcrum: [[], []] as Summary[][], socketio: [[], []] as Summary[][] };
    const rate = { fulcrum: [] as number[], socketio: [] as number[] };
    const failed = { fulcrum: 0, socketio: 0 };
    for (let r = -1; r < rounds; r++) {
      for (const side of r % 2 === 0 ? [fulcrum, socketio] : [socketio, fulcrum]) {
        const offset = (r + 1) * (SEQUENTIAL + CONCURRENT);
        const one = await side.pusher.request<{ latencies: number[]; ms: number; failed: number }>('push', { users: total, count: SEQUENTIAL, inFlight: 1, offset });
        const many = await side.pusher.request<{ latencies: number[]; ms: number; failed: number }>('push', { users: total, count: CONCURRENT, inFlight: IN_FLIGHT, offset: offset + SEQUENTIAL });
        log(`    round ${r} ${side.name}: 1 in flight ${fmt(summarize(one.latencies))} · 64 in flight ${fmt(summarize(many.latencies))}, ${n0(CONCURRENT / (many.ms / 1000))}/s`);
        if (r < 0) continue; // warm-up
        per[side.name][0]!.push(summarize(one.latencies));
        per[side.name][1]!.push(summarize(many.latencies));
        rate[side.name].push((CONCURRENT - many.failed) / (many.ms / 1000));
        failed[side.name] += one.failed + many.failed;
      }
    }

    // Fan-out with everybody online: a small room, a room of everybody, a broadcast.
    log('  peer: rooms and broadcasts...');
    for (const side of sides) {
      await side.users.request('join', { room: 'small', from: 0, n: small });
      await side.users.request('join', { room: 'everybody', from: 0, n: total });
    }
    const kinds = [
      { label: `room publish to ${small.toLocaleString('en-US')} members (${total.toLocaleString('en-US')} online)`, room: 'small', recipients: small },
      { label: `room publish to ${total.toLocaleString('en-US')} members`, room: 'everybody', recipients: total },
      { label: `broadcast to ${total.toLocaleString('en-US')} users`, room: undefined, recipients: total },
    ];
    const fanout: PeerResult['fanout'] = [];
    const extra = { fulcrum: 0, socketio: 0 };
    // Kinds interleaved within each round too, so none is measured only while the drivers warm up.
    const measureFanout = async (ks: typeof kinds) => {
      const ms = ks.map(() => ({ fulcrum: [] as number[], socketio: [] as number[] }));
      const missing = ks.map(() => ({ fulcrum: 0, socketio: 0 }));
      for (let r = -1; r < rounds; r++) {
        for (const [i, k] of ks.entries()) {
          for (const side of r % 2 === 0 ? [fulcrum, socketio] : [socketio, fulcrum]) {
            const once = await fanoutOnce(side, k.room, k.recipients);
            extra[side.name] += once.extra;
            log(`    ${k.label}, round ${r} ${side.name}: ${once.ms.toFixed(1)} ms${once.missing ? `, ${once.missing} missing` : ''}`);
            if (r < 0) continue;
            ms[i]![side.name].push(once.ms);
            missing[i]![side.name] += once.missing;
          }
        }
      }
      for (const [i, k] of ks.entries()) fanout.push({ label: k.label, recipients: k.recipients, ms: { fulcrum: median(ms[i]!.fulcrum), socketio: median(ms[i]!.socketio) }, missing: missing[i]! });
    };
    await measureFanout(kinds);

    // Broadcast with only `small` users online.
    if (small < total) {
      for (const side of sides) {
        await side.users.request('closeFrom', { from: small });
        await until(async () => (await side.live()) === small, READY_TIMEOUT_MS, `${side.name}: back to ${small} connections`);
      }
      await measureFanout([{ label: `broadcast to ${small.toLocaleString('en-US')} users (${small.toLocaleString('en-US')} online)`, room: undefined, recipients: small }]);
    }
    for (const side of sides) extra[side.name] += await side.users.request<number>('expect', { n: 0 });
    const fanoutFailures = { fulcrum: await fulcrum.pusher.request<number>('failures'), socketio: await socketio.pusher.request<number>('failures') };
    await stopSides();

    // Memory with the other flags: fulcrum with Node's defaults, Socket.IO with ServerRunner's.
    log('  peer: memory with the other Node flags...');
    sides.push(await startFulcrum(o, 'node-defaults', []));
    const fulcrumNodeDefaults = await loginMeasuringRss(sides[0]!, total, log);
    await stopSides();
    sides.push(await startSocketIo(redis.url, runnerFlags));
    const socketioRunnerFlags = await loginMeasuringRss(sides[0]!, total, log);
    await stopSides();
    const flagText = (f: string[]) => (f.length ? f.join(' ') : 'none');
    const memory: MemoryRow[] = [
      { flags: `${flagText(runnerFlags)} (ServerRunner's default)`, perUser: { fulcrum: mainRss.fulcrum.perUser, socketio: socketioRunnerFlags.perUser }, marginal: { fulcrum: mainRss.fulcrum.marginal, socketio: socketioRunnerFlags.marginal } },
      { flags: "none (Node's defaults)", perUser: { fulcrum: fulcrumNodeDefaults.perUser, socketio: mainRss.socketio.perUser }, marginal: { fulcrum: fulcrumNodeDefaults.marginal, socketio: mainRss.socketio.marginal } },
    ];
    return {
      users: total,
      rounds,
      versions,
      flags: { fulcrum: flagText(runnerFlags), socketio: 'none' },
      push: [1, IN_FLIGHT].map((inFlight, i) => ({ inFlight, latency: { fulcrum: medianOfRounds(per.fulcrum[i]!), socketio: medianOfRounds(per.socketio[i]!) } })),
      pushRate: { fulcrum: median(rate.fulcrum), socketio: median(rate.socketio) },
      failed: { fulcrum: failed.fulcrum + fanoutFailures.fulcrum, socketio: failed.socketio + fanoutFailures.socketio },
      fanout,
      extra,
      memory,
      durationMs: Date.now() - t0,
    };
  } finally {
    await stopSides();
    await stopRedis(redisSpec);
    rmSync(redisSpec.dir, { recursive: true, force: true });
  }
}
