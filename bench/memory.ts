// Memory per idle connection of one server process: logged-in users (raw TCP `login` → `welcome`),
// connections that never log in (`ping` → `pong`) on the same kind of MessagingServer process,
// and the floor beside them (a plain net.Server holding the same sockets: Node's net.Socket and
// libuv handle, kernel socket buffers not counted in RSS). Each with the ServerRunner's flags and
// with Node's defaults (embedded use), connections held by several driver processes.
import type ZooKeeper from 'zookeeper';
import { DEFAULT_SERVER_NODE_FLAGS, ServerRunner } from '../src/tools/runner/server-runner.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { mkdirp } from '../src/zk/paths.js';
import type { RouteViewKind } from '../src/messaging/router.js';
import { BenchChild } from './child-ipc.js';
import { cpuSeconds, rssBytes } from './rss.js';

/** Targets per logged-in idle user (RSS above the idle process): ServerRunner defaults, and Node's default flags. */
export const USER_BYTES_TARGET = 3 * 1024;
export const EMBEDDED_USER_BYTES_TARGET = 5 * 1024;
export const DEFAULT_MEMORY_LEVELS: readonly number[] = [10_000, 50_000];
/** Connections one driver holds (its open-file limit is raised, its loopback address has ~28,000 ports). */
const PER_DRIVER = 15_000;
/** After the last answer: let timers, promises and the young generation settle before reading RSS. */
const SETTLE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type MemoryKind = 'user' | 'connection' | 'floor';

export interface MemoryBreakdown {
  heapUsed: number;
  /** External memory outside array buffers (native objects V8 is told about). */
  external: number;
  arrayBuffers: number;
  /** RSS not accounted for by the three above: heap pages not in use, malloc, libuv handles, code. */
  rest: number;
}

export interface MemoryRow {
  flags: 'runner' | 'node';
  kind: MemoryKind;
  /** Per level: RSS above the idle process, per connection (bytes). */
  perConn: number[];
  /** Logged-in users at the last level: the same growth split by process.memoryUsage(). */
  breakdown?: MemoryBreakdown;
  /** RSS growth per connection from the first level to the last (without the one-time growth the first pays). */
  marginal: number;
  /** The server's CPU time per 1,000 connections opened (logins, for users), in seconds. */
  cpuPer1000: number;
}

export interface MemoryResult {
  levels: readonly number[];
  rows: MemoryRow[];
  flags: { runner: string[]; node: string[] };
}

export interface MemoryOptions {
  zk: string;
  base: string;
  admin: ZooKeeper;
  /** @default DEFAULT_MEMORY_LEVELS */
  levels?: readonly number[];
  /** The servers' route view. @default the ServerRunner's ('watched') */
  routes?: RouteViewKind;
  log?: (s: string) => void;
}

interface Target {
  pid: number;
  port: number;
  /** Connections (or logged-in users) the server holds now. */
  count(): Promise<number>;
  memory?(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`memory bench: ${what} not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function fulcrum(o: MemoryOptions, root: string, execArgv: string[], kind: MemoryKind): Promise<Target> {
  await mkdirp(NativeZkClient.of(o.admin), root);
  const runner = new ServerRunner({ count: 1, zk: o.zk, root, host: '127.0.0.1', logLevel: 'warn', execArgv, ...(o.routes ? { routes: o.routes } : {}) });
  try {
    const [s] = await runner.start();
    return {
      pid: s!.pid,
      port: s!.port,
      count: async () => {
        const st = await runner.stats(0);
        return kind === 'user' ? st.stats.users : st.live;
      },
      memory: async () => (await runner.stats(0)).memory,
      stop: () => runner.stop(),
    };
  } catch (e) {
    await runner.stop();
    throw e;
  }
}

async function floor(execArgv: string[]): Promise<Target> {
  const child = new BenchChild('./server-plain.js', [], { execArgv });
  const port = await child.request<number>('listen', { kind: 'plain' });
  return { pid: child.pid, port, count: async () => child.request<number>('connections'), stop: () => child.stop() };
}

/** Opens connections in steps up to each level; RSS above idle per connection at each. */
async function ramp(o: MemoryOptions, target: Target, kind: MemoryKind, label: string): Promise<Omit<MemoryRow, 'flags' | 'kind'>> {
  const levels = o.levels ?? DEFAULT_MEMORY_LEVELS;
  const nDrivers = Math.ceil(levels[levels.length - 1]! / PER_DRIVER);
  const drivers = Array.from({ length: nDrivers }, () => new BenchChild('./driver-memory.js'));
  try {
    await sleep(1_000);
    const idleRss = rssBytes(target.pid);
    const idleMem = await target.memory?.();
    const idleCpu = cpuSeconds(target.pid);
    let cpu = 0;
    const perConn: number[] = [];
    const rssAt: number[] = [];
    let held = 0;
    let breakdown: MemoryBreakdown | undefined;
    for (const level of levels) {
      const step = level - held;
      const per = Math.ceil(step / nDrivers);
      await Promise.all(
        drivers.map((d, i) => {
          const n = Math.max(0, Math.min(per, step - i * per));
          return d.request('open', { port: target.port, n, from: held + i * per, login: kind === 'user', localAddress: `127.0.0.${10 + i}` }, 120_000);
        }),
      );
      held = level;
      await until(async () => (await target.count()) === level, 30_000, `${label}: ${level} held`);
      cpu = cpuSeconds(target.pid) - idleCpu;
      await sleep(SETTLE_MS);
      const rss = rssBytes(target.pid);
      rssAt.push(rss);
      perConn.push((rss - idleRss) / level);
      o.log?.(`  ${label}: ${level.toLocaleString('en-US')} held, ${((rss - idleRss) / level).toFixed(0)} B each above idle`);
      if (idleMem && level === levels[levels.length - 1]) {
        const m = (await target.memory!())!;
        const external = m.external - m.arrayBuffers - (idleMem.external - idleMem.arrayBuffers);
        const d = { heapUsed: m.heapUsed - idleMem.heapUsed, external, arrayBuffers: m.arrayBuffers - idleMem.arrayBuffers };
        breakdown = {
          heapUsed: d.heapUsed / level,
          external: d.external / level,
          arrayBuffers: d.arrayBuffers / level,
          rest: (rss - idleRss - d.heapUsed - d.external - d.arrayBuffers) / level,
        };
      }
    }
    await Promise.all(drivers.map((d) => d.request('closeAll')));
    const marginal = levels.length > 1 ? (rssAt[rssAt.length - 1]! - rssAt[0]!) / (levels[levels.length - 1]! - levels[0]!) : Number.NaN;
    return { perConn, marginal, cpuPer1000: (cpu * 1000) / held, ...(breakdown ? { breakdown } : {}) };
  } finally {
    await Promise.all(drivers.map((d) => d.stop()));
    await target.stop();
  }
}

let parts = 0;

/** One fresh server process with `execArgv` holding `kind` connections up to each level. */
export async function measureMemory(o: MemoryOptions, kind: MemoryKind, execArgv: string[], label: string = kind): Promise<Omit<MemoryRow, 'flags' | 'kind'>> {
  const target = kind === 'floor' ? await floor(execArgv) : await fulcrum(o, `${o.base}/${parts++}/servers`, execArgv, kind);
  return ramp(o, target, kind, label);
}

export async function runMemory(o: MemoryOptions): Promise<MemoryResult> {
  const flags = { runner: [...process.execArgv, ...DEFAULT_SERVER_NODE_FLAGS], node: [...process.execArgv] };
  const rows: MemoryRow[] = [];
  for (const f of ['runner', 'node'] as const) {
    for (const kind of ['user', 'connection', 'floor'] as const) rows.push({ flags: f, kind, ...(await measureMemory(o, kind, flags[f], `${f} flags, ${kind}`)) });
  }
  return { levels: o.levels ?? DEFAULT_MEMORY_LEVELS, rows, flags };
}
