// Fan-out (npm run bench -- --only fanout): deliveries per second of server CPU time, and a
// broadcast's send → last receipt, for the batched delivery path beside the previous one. Each side
// is one server process started by ServerRunner with its defaults (the previous one also loads
// bench/direct-writes.ts: every frame written at once, as before batching), reached through the
// library Router; the receivers are raw TCP clients in a driver process per side, so only the
// server's CPU (utime + stime from /proc, every thread) is counted. Rounds are interleaved.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type ZooKeeper from 'zookeeper';
import { Router } from '../src/messaging/router.js';
import { DEFAULT_SERVER_NODE_FLAGS, ServerRunner } from '../src/tools/runner/server-runner.js';
import { mkdirp } from '../src/zk/paths.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { BenchChild } from './child-ipc.js';
import { median } from './percentiles.js';
import { sharedClockMs } from './shared-clock.js';

/** Deliveries per second of server CPU time (issue 18). */
export const FANOUT_TARGET = 1_000_000;
export const CPU_USERS = 5_000;
export const BROADCASTS = 40;
export const E2E_USERS = 10_000;
/** Rounds per CPU mode (after one warm-up), and of the end-to-end broadcast. */
const CPU_ROUNDS = 4;
const E2E_ROUNDS = 8;
const RECEIPT_TIMEOUT_MS = 60_000;
/** A 62-character string: a 64-byte MessagePack body. */
const BODY = 'x'.repeat(62);
const ROOM = 'fanout';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type SideName = 'batched' | 'previous';
const SIDES: SideName[] = ['batched', 'previous'];

export interface CpuRow {
  label: string;
  deliveries: number;
  /** Deliveries per server CPU second over every round (total / total), and the per-round range. */
  rate: Record<SideName | 'floor', { total: number; min: number; max: number }>;
  missing: Record<SideName | 'floor', number>;
  /** Of the CPU time, the share spent in the kernel (stime / (utime + stime)). */
  kernel: Record<SideName | 'floor', number>;
  /** The floor's writes: frames per write, writes per connection per round. */
  floor: { perWrite: number; turns: number };
}

export interface FanoutResult {
  cpu: CpuRow[];
  /** Broadcast to E2E_USERS: send → last receipt, median over rounds (ms), and every round. */
  e2e: Record<SideName, { median: number; rounds: number[]; missing: number }>;
  /** Server processes' CPU time per round of one broadcast to E2E_USERS (ms, median). */
  e2eCpuMs: Record<SideName, number>;
  /** Publishes and broadcasts the Router reported failed (e.g. no result in time from a stalled server). */
  routerErrors: Record<SideName, { count: number; first?: string }>;
}

interface Side {
  name: SideName;
  pid: number;
  port: number;
  router: Router;
  runner: ServerRunner;
  /** The side's receivers (their own process). */
  users: BenchChild;
  routerErrors: number;
  firstRouterError?: string;
}

/** User and system CPU time (ms) of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}

async function startSide(o: { zk: string; base: string; admin: ZooKeeper }, name: SideName): Promise<Side> {
  const root = `${o.base}/${name}/servers`;
  await mkdirp(NativeZkClient.of(o.admin), root);
  const previous = ['--import', pathToFileURL(fileURLToPath(new URL('./direct-writes.js', import.meta.url))).href];
  // FULCRUM_BENCH_CPU_PROF=<dir>: each server process writes a V8 CPU profile there when it stops.
  const dir = process.env.FULCRUM_BENCH_CPU_PROF;
  const prof = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=fanout-${name}.cpuprofile`] : [];
  const execArgv = [...process.execArgv, ...DEFAULT_SERVER_NODE_FLAGS, ...prof, ...(name === 'previous' ? previous : [])];
  const runner = new ServerRunner({ count: 1, zk: o.zk, root, host: '127.0.0.1', logLevel: 'warn', execArgv });
  const [s] = await runner.start();
  const router = new Router({ zk: o.zk, root });
  const users = new BenchChild('./driver-fanout.js');
  const side: Side = { name, pid: s!.pid, port: s!.port, router, runner, users, routerErrors: 0 };
  // A server that fails to answer is reported as an error event (the fan-out resolves with the other servers' results).
  router.on('error', (e: Error) => {
    side.routerErrors++;
    side.firstRouterError ??= e.message;
  });
  await Promise.all([router.start(), users.request('init')]);
  return side;
}

/** `count` fan-outs from the side's Router, all in flight at once or one after another. */
async function send(side: Side, count: number, inFlight: boolean, room?: string): Promise<void> {
  const one = () => (room === undefined ? side.router.broadcast(BODY) : side.router.publish(room, BODY));
  const failed = (e: Error) => void side.router.emit('error', e);
  if (inFlight) await Promise.all(Array.from({ length: count }, () => one().catch(failed)));
  else for (let i = 0; i < count; i++) await one().catch(failed);
}

/** One measured fan-out: receipts of `deliveries` messages and the server's CPU meanwhile. */
async function measure(side: { pid: number; users: BenchChild }, deliveries: number, fanout: () => Promise<void>): Promise<Measured> {
  await side.users.request('expect', { n: deliveries });
  const cpu0 = cpuMs(side.pid);
  const t0 = sharedClockMs();
  await fanout();
  const r = await side.users.request<{ received: number; lastAt: number }>('receipts', { timeoutMs: RECEIPT_TIMEOUT_MS });
  const cpu1 = cpuMs(side.pid);
  await sleep(200); // what the fan-out leaves behind (garbage, results to the Router) stays out of the next one
  const missing = Math.max(0, deliveries - r.received);
  const sys = cpu1.sys - cpu0.sys;
  return { cpuMs: cpu1.user - cpu0.user + sys, sysMs: sys, ms: missing ? Number.NaN : r.lastAt - t0, missing, received: Math.min(r.received, deliveries) };
}

interface Measured {
  /** Deliveries that arrived (a stalled server's missing ones are not counted as delivered). */
  received: number;
  cpuMs: number;
  sysMs: number;
  ms: number;
  missing: number;
}

export async function runFanout(o: { zk: string; base: string; admin: ZooKeeper; log?: (s: string) => void }): Promise<FanoutResult> {
  const log = o.log ?? (() => {});
  const sides: Side[] = [];
  const floorServer = new BenchChild('./server-write-floor.js', [], { execArgv: [...DEFAULT_SERVER_NODE_FLAGS] });
  const floorUsers = new BenchChild('./driver-fanout.js');
  try {
    const listening = await floorServer.request<{ port: number; pid: number }>('listen');
    const floor = { pid: listening.pid, users: floorUsers };
    await floorUsers.request('connect', { group: 'floor', port: listening.port, n: CPU_USERS });
    while ((await floorServer.request<number>('connections')) < CPU_USERS) await sleep(50);
    for (const name of SIDES) sides.push(await startSide(o, name));
    for (const side of sides) {
      await side.users.request('login', { group: side.name, port: side.port, from: 0, n: CPU_USERS });
      await side.users.request('join', { group: side.name, room: ROOM });
      log(`  ${side.name}: ${CPU_USERS} users logged in on port ${side.port} (pid ${side.pid})`);
    }
    const deliveries = CPU_USERS * BROADCASTS;
    const modes = [
      { label: `${BROADCASTS} broadcasts in flight`, run: (s: Side) => send(s, BROADCASTS, true), floor: { perWrite: BROADCASTS, turns: 1 } },
      { label: `${BROADCASTS} room publishes in flight`, run: (s: Side) => send(s, BROADCASTS, true, ROOM), floor: { perWrite: BROADCASTS, turns: 1 } },
      { label: `${BROADCASTS} broadcasts one at a time`, run: (s: Side) => send(s, BROADCASTS, false), floor: { perWrite: 1, turns: BROADCASTS } },
    ];
    const cpu: CpuRow[] = [];
    for (const mode of modes) {
      const per = { batched: [] as Measured[], previous: [] as Measured[], floor: [] as Measured[] };
      for (let round = 0; round <= CPU_ROUNDS; round++) {
        const f = await measure(floor, deliveries, async () => void (await floorServer.request('write', { body: BODY, ...mode.floor })));
        if (round > 0) per.floor.push(f);
        log(`  ${mode.label} · floor · round ${round}: ${f.cpuMs} ms CPU (${f.sysMs} ms system), ${f.missing} missing`);
        for (const side of round % 2 ? [...sides].reverse() : sides) {
          const m = await measure(side, deliveries, () => mode.run(side));
          if (round > 0) per[side.name].push(m);
          log(`  ${mode.label} · ${side.name} · round ${round}${round ? '' : ' (warm-up)'}: ${m.cpuMs} ms CPU (${m.sysMs} ms system), ${m.missing} missing`);
        }
      }
      const rate = (xs: Measured[]) => {
        const each = xs.map((x) => x.received / (x.cpuMs / 1000));
        return { total: xs.reduce((a, x) => a + x.received, 0) / (xs.reduce((a, x) => a + x.cpuMs, 0) / 1000), min: Math.min(...each), max: Math.max(...each) };
      };
      const missing = (xs: Measured[]) => xs.reduce((a, x) => a + x.missing, 0);
      const kernel = (xs: Measured[]) => xs.reduce((a, x) => a + x.sysMs, 0) / xs.reduce((a, x) => a + x.cpuMs, 0);
      cpu.push({
        label: mode.label,
        deliveries,
        rate: { batched: rate(per.batched), previous: rate(per.previous), floor: rate(per.floor) },
        missing: { batched: missing(per.batched), previous: missing(per.previous), floor: missing(per.floor) },
        kernel: { batched: kernel(per.batched), previous: kernel(per.previous), floor: kernel(per.floor) },
        floor: mode.floor,
      });
    }
    for (const side of sides) await side.users.request('login', { group: side.name, port: side.port, from: CPU_USERS, n: E2E_USERS - CPU_USERS });
    const e2e = { batched: [] as number[], previous: [] as number[] };
    const e2eCpu = { batched: [] as number[], previous: [] as number[] };
    const e2eMissing = { batched: 0, previous: 0 };
    for (let round = 0; round <= E2E_ROUNDS; round++) {
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        const m = await measure(side, E2E_USERS, () => send(side, 1, false));
        log(`  broadcast to ${E2E_USERS} · ${side.name} · round ${round}${round ? '' : ' (warm-up)'}: ${m.ms.toFixed(1)} ms, ${m.cpuMs} ms CPU`);
        if (round === 0) continue;
        e2e[side.name].push(m.ms);
        e2eCpu[side.name].push(m.cpuMs);
        e2eMissing[side.name] += m.missing;
      }
    }
    const e2eOf = (n: SideName) => ({ median: median(e2e[n]), rounds: e2e[n], missing: e2eMissing[n] });
    return {
      cpu,
      e2e: { batched: e2eOf('batched'), previous: e2eOf('previous') },
      e2eCpuMs: { batched: median(e2eCpu.batched), previous: median(e2eCpu.previous) },
      routerErrors: Object.fromEntries(sides.map((x) => [x.name, { count: x.routerErrors, first: x.firstRouterError }])) as FanoutResult['routerErrors'],
    };
  } finally {
    await floorUsers.stop();
    await floorServer.stop();
    for (const s of sides) {
      await s.users.request('close').catch(() => {});
      await s.users.stop();
      s.router.close();
      await s.runner.stop();
    }
  }
}
