// Message history, side by side with the same cluster without it (npm run bench -- --only history):
// push send → ack p50/p99 and acked pushes/s through the library Router, Redis commands per push,
// the recovery of 1,000 users logging in again at once with what they missed, and Redis memory
// per user and per message. Both sides run at the same time (2 server processes each), rounds
// alternate between them.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { readFileSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import type ZooKeeper from 'zookeeper';
import { Router } from '../src/messaging/router.js';
import { userStream } from '../src/messaging/history/history-engine.js';
import { RedisHistory } from '../src/messaging/history/redis-history.js';
import { encodeFrame, FrameDecoder } from '../src/protocol/frames.js';
import { freePort } from '../src/tools/local-daemon.js';
import { startRedis, stopRedis, type LocalRedisSpec } from '../src/tools/local-redis.js';
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { mkdirp } from '../src/zk/paths.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { medianOfRounds, median, summarize, type Summary } from './percentiles.js';

const USERS = 2_000;
const ROUNDS = 5;
const SEQUENTIAL = 200;
const THROUGHPUT = 2_000;
const IN_FLIGHT = 64;
const RECOVERING = 1_000;
const MISSED = 10;
const MEMORY_USERS = 10_000;
/** Messages added to each of the first MEMORY_DEEP users (listpack nodes fill up: per-message cost). */
const MEMORY_DEEP = 1_000;
const MEMORY_MESSAGES = 100;
/** About the size of the bench's push bodies. */
const BODY = { n: 0, pad: 'x'.repeat(48) };

export interface HistoryBenchResult {
  users: number;
  redisVersion: string;
  /** send → ack at the Router, one push at a time; median over rounds of each round's percentiles. */
  sequential: { history: Summary; plain: Summary };
  /** the same with IN_FLIGHT pushes in flight. */
  loaded: { history: Summary; plain: Summary };
  /** acked pushes/s with IN_FLIGHT in flight, median of the rounds. */
  rate: { history: number; plain: number };
  /** CPU time per push during those runs (µs, median of the rounds): Redis, the 2 server processes, the bench process (Router and users). */
  cpu: { history: CpuPerPush; plain: CpuPerPush };
  /** Redis calls per push: scripts run (EVALSHA/EVAL, appends and acked-cursor writes) and every command executed, scripts' inner ones included. */
  commands: { pushes: number; scripts: number; total: number; byCommand: Record<string, number> };
  recovery: { users: number; missed: number; historyMs: number; plainMs: number; replayed: number; complete: boolean };
  /** used_memory deltas: a user stream holding one message; then each further message (MEMORY_MESSAGES more in each of deepUsers streams). */
  memory: { users: number; deepUsers: number; messages: number; perUserBytes: number; perMessageBytes: number };
}

export interface CpuPerPush {
  redis: number;
  servers: number;
  pusher: number;
}

const medianCpu = (xs: CpuPerPush[]): CpuPerPush => ({ redis: median(xs.map((x) => x.redis)), servers: median(xs.map((x) => x.servers)), pusher: median(xs.map((x) => x.pusher)) });

/** A raw protocol user: logs in (with `since` when it has a position), acks pushes, keeps its position. */
class User {
  socket!: net.Socket;
  received = 0;
  position: { epoch: string; offset: number } | undefined;
  welcomed!: Promise<void>;
  constructor(readonly user: string) {}

  connect(port: number): Promise<void> {
    const decoder = new FrameDecoder();
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    this.welcomed = new Promise<void>((resolve, reject) => {
      this.socket.once('close', () => reject(new Error(`${this.user}: closed`)));
      this.socket.on('data', (b: Buffer) => {
        for (const m of decoder.push(b) as { type: string; id?: unknown; offset?: number; epoch?: string }[]) {
          if (m.type === 'welcome') resolve();
          else if (m.type === 'message') {
            this.received++;
            if (typeof m.offset === 'number' && typeof m.epoch === 'string') this.position = { epoch: m.epoch, offset: m.offset };
            this.socket.write(encodeFrame({ type: 'ack', id: m.id }));
          }
        }
      });
    });
    this.welcomed.catch(() => {});
    this.socket.write(encodeFrame({ type: 'login', user: this.user, ...(this.position ? { since: this.position } : {}) }));
    return this.welcomed;
  }

  close(): void {
    this.socket.destroy();
  }
}

async function inFlight<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** CPU time (ms) of each pid so far, from /proc (utime + stime, clock ticks of 10 ms). */
function cpuOf(pids: number[]): number[] {
  return pids.map((pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      return 0;
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cmdstat_<name>:calls=N` of INFO commandstats. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

interface Side {
  name: 'history' | 'plain';
  runner: ServerRunner;
  router: Router;
  users: User[];
  ports: number[];
}

export async function historyBench(o: { zk: string; base: string; admin: ZooKeeper; log?: (s: string) => void }): Promise<HistoryBenchResult> {
  const log = o.log ?? (() => {});
  const spec: LocalRedisSpec = { dir: '.redis/bench-history', port: await freePort() };
  const started = await startRedis(spec, { fresh: true });
  const redis = new Redis(started.url);
  const sides: Side[] = [];
  try {
    const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))![1]!;
    for (const name of ['history', 'plain'] as const) {
      const root = `${o.base}/${name}/servers`;
      await mkdirp(NativeZkClient.of(o.admin), root);
      const history = name === 'history' ? { redis: started.url } : undefined;
      const runner = new ServerRunner({ count: 2, zk: o.zk, root, host: '127.0.0.1', logLevel: 'warn', history });
      const servers = await runner.start();
      const router = new Router({ zk: o.zk, root, history });
      await router.start();
      const users = Array.from({ length: USERS }, (_, i) => new User(`${name}-${i}`));
      const ports = servers.map((s) => s.port);
      await inFlight(users, 200, async (u) => u.connect(ports[Number(u.user.split('-')[1]) % ports.length]!));
      for (let i = 0; i < 400 && router.routes.size < USERS; i++) await sleep(25);
      sides.push({ name, runner, router, users, ports });
    }
    log(`history bench: ${USERS} users logged in per side`);

    // Pushes, rounds alternating between the sides (round 0 warms up).
    const seq = { history: [] as Summary[], plain: [] as Summary[] };
    const loaded = { history: [] as Summary[], plain: [] as Summary[] };
    const rates = { history: [] as number[], plain: [] as number[] };
    const cpu = { history: [] as CpuPerPush[], plain: [] as CpuPerPush[] };
    let historyPushes = 0;
    const before = await commandCalls(redis);
    for (let round = 0; round <= ROUNDS; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const pick = (i: number) => side.users[(i * 7919 + round * 13) % side.users.length]!.user;
        const one: number[] = [];
        for (let i = 0; i < SEQUENTIAL; i++) {
          const t0 = performance.now();
          const r = await side.router.push(pick(i), BODY);
          if (!r.delivered) throw new Error(`history bench: a push to an online user was not acked (${r.code})`);
          one.push(performance.now() - t0);
        }
        const many: number[] = [];
        const cpu0 = cpuOf([started.pid, ...side.runner.servers.map((x) => x.pid)]);
        const self0 = process.cpuUsage();
        const t0 = performance.now();
        await inFlight(Array.from({ length: THROUGHPUT }, (_, i) => i), IN_FLIGHT, async (i) => {
          const s = performance.now();
          const r = await side.router.push(pick(i + SEQUENTIAL), BODY);
          if (!r.delivered) throw new Error(`history bench: a push to an online user was not acked (${r.code})`);
          many.push(performance.now() - s);
        });
        const rate = THROUGHPUT / ((performance.now() - t0) / 1000);
        const cpu1 = cpuOf([started.pid, ...side.runner.servers.map((x) => x.pid)]);
        const self1 = process.cpuUsage(self0);
        const perPush = (ms: number) => (ms * 1000) / THROUGHPUT;
        const used = { redis: perPush(cpu1[0]! - cpu0[0]!), servers: perPush(cpu1.slice(1).reduce((a, b) => a + b, 0) - cpu0.slice(1).reduce((a, b) => a + b, 0)), pusher: perPush((self1.user + self1.system) / 1000) };
        log(`    CPU µs per push: redis ${used.redis.toFixed(0)}, servers ${used.servers.toFixed(0)}, bench process ${used.pusher.toFixed(0)}`);
        if (side.name === 'history') historyPushes += SEQUENTIAL + THROUGHPUT;
        if (round === 0) continue;
        cpu[side.name].push(used);
        seq[side.name].push(summarize(one));
        loaded[side.name].push(summarize(many));
        rates[side.name].push(rate);
        log(`  round ${round} ${side.name}: 1 in flight p50 ${summarize(one).p50.toFixed(2)} ms, ${IN_FLIGHT} in flight ${rate.toFixed(0)} pushes/s`);
      }
    }
    await sleep(500); // the acked cursors' last flush
    const after = await commandCalls(redis);
    const byCommand: Record<string, number> = {};
    for (const [name, calls] of after) {
      const d = calls - (before.get(name) ?? 0);
      if (d > 0 && name !== 'info') byCommand[name] = d / historyPushes;
    }
    const scripts = (byCommand.evalsha ?? 0) + (byCommand.eval ?? 0);
    const total = Object.values(byCommand).reduce((a, b) => a + b, 0);

    // Recovery: 1,000 users of each side leave at once; on the history side 10 pushes each are
    // stored meanwhile; then all of them log in again at once (with their position) until every one
    // has what it missed (history) or its welcome (plain).
    const recovery = { users: RECOVERING, missed: MISSED, historyMs: 0, plainMs: 0, replayed: 0, complete: true };
    for (const side of sides) {
      const leaving = side.users.slice(0, RECOVERING);
      for (const u of leaving) u.close();
      for (let i = 0; i < 800 && leaving.some((u) => side.router.route(u.user)); i++) await sleep(25);
      if (side.name === 'history') for (let k = 0; k < MISSED; k++) await side.router.pushMany(leaving.map((u) => u.user), { ...BODY, n: k });
      const got = leaving.map((u) => u.received);
      const t0 = performance.now();
      await Promise.all(leaving.map((u, i) => u.connect(side.ports[i % side.ports.length]!)));
      if (side.name === 'history') {
        const want = (i: number) => got[i]! + MISSED;
        for (let i = 0; i < 2_000 && leaving.some((u, k) => u.received < want(k)); i++) await sleep(5);
        recovery.complete = leaving.every((u, k) => u.received === want(k));
        recovery.historyMs = performance.now() - t0;
        recovery.replayed = leaving.reduce((n, u, k) => n + u.received - got[k]!, 0);
      } else recovery.plainMs = performance.now() - t0;
    }

    // Memory: a fresh key prefix; 10,000 user streams of one message (the cost of a user), then 100
    // more messages in each of 1,000 of them (the cost of a message).
    const engine = new RedisHistory({ redis: started.url, keyPrefix: 'benchmem' });
    await engine.start();
    const names = Array.from({ length: MEMORY_USERS }, (_, i) => `mem-${i}`);
    const fill = async (users: string[], k: number) => {
      for (let i = 0; i < users.length; i += 500) await engine.appendMany(users.slice(i, i + 500).map((n) => ({ stream: userStream(n), entry: { id: `m-${n}-${k}`, body: { ...BODY, n: k } } })));
    };
    const m0 = await usedMemory(redis);
    await fill(names, 0);
    const m1 = await usedMemory(redis);
    for (let k = 1; k <= MEMORY_MESSAGES; k++) await fill(names.slice(0, MEMORY_DEEP), k);
    const m2 = await usedMemory(redis);
    await engine.close();
    const perMessageBytes = (m2 - m1) / (MEMORY_DEEP * MEMORY_MESSAGES);
    const memory = { users: MEMORY_USERS, deepUsers: MEMORY_DEEP, messages: MEMORY_MESSAGES, perMessageBytes, perUserBytes: (m1 - m0) / MEMORY_USERS };

    return {
      users: USERS,
      redisVersion,
      sequential: { history: medianOfRounds(seq.history), plain: medianOfRounds(seq.plain) },
      loaded: { history: medianOfRounds(loaded.history), plain: medianOfRounds(loaded.plain) },
      rate: { history: median(rates.history), plain: median(rates.plain) },
      cpu: { history: medianCpu(cpu.history), plain: medianCpu(cpu.plain) },
      commands: { pushes: historyPushes, scripts, total, byCommand },
      recovery,
      memory,
    };
  } finally {
    for (const s of sides) {
      for (const u of s.users) u.close();
      s.router.close();
      await s.runner.stop();
    }
    redis.disconnect();
    await stopRedis(spec);
    rmSync(spec.dir, { recursive: true, force: true });
  }
}
