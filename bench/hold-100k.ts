// Many concurrent connections held over 5 fulcrum server processes, then the same number held by
// HAProxy in front of the same servers: time to open, memory per connection, ZooKeeper exactness.
import type ZooKeeper from 'zookeeper';
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { decodeServerData } from '../src/server-data.js';
import { BenchChild } from './child-ipc.js';
import { Haproxy } from './haproxy.js';
import { rssBytes } from './rss.js';

/** Connections one driver process opens; its open-file limit (20,000 here) must cover them. */
export const DEFAULT_PER_DRIVER = 16_000;
/** Connections one HAProxy process holds: two descriptors each under a 20,000 open-file limit. */
export const DEFAULT_PER_HAPROXY = 9_000;
/** A server process's cap: its 20,000 open-file limit less the listener, ZooKeeper, IPC and stdio. */
export const DEFAULT_MAX_PER_SERVER = 19_950;

export interface HoldOptions {
  zk: string;
  root: string;
  admin: ZooKeeper;
  total: number;
  servers?: number;
  /** @default DEFAULT_MAX_PER_SERVER */
  maxPerServer?: number;
  /** Connects in flight per driver. @default 200 */
  concurrency?: number;
  /** Node flags for the server processes. @default the bench's own */
  serverExecArgv?: string[];
  /** Measure HAProxy holding the same number too. @default true */
  haproxy?: boolean;
  log?: (s: string) => void;
}

export interface HoldSide {
  held: number;
  failed: number;
  firstError?: string;
  openMs: number;
  /** Resident memory above idle, per held connection, of the processes holding them. */
  bytesPerConn: number;
  /** Resident memory growth per connection over the second half opened (no one-time growth). */
  marginalBytesPerConn: number;
  processes: number;
}

export interface HoldResult {
  total: number;
  fulcrum: HoldSide & { peakExact: boolean; finalExact: boolean; writes: number; events: number; perServer: number[] };
  haproxy?: HoldSide;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openAll(drivers: BenchChild[], total: number, concurrency: number, localAddress: (i: number) => string | undefined): Promise<{ held: number; failed: number; firstError?: string; ms: number }> {
  const t0 = performance.now();
  const per = Math.ceil(total / drivers.length);
  const res = await Promise.all(
    drivers.map((d, i) => d.request<{ held: number; failed: number; firstError?: string }>('open', { n: Math.min(per, total - i * per), concurrency, localAddress: localAddress(i) })),
  );
  return { held: res.reduce((a, r) => a + r.held, 0), failed: res.reduce((a, r) => a + r.failed, 0), firstError: res.find((r) => r.firstError)?.firstError, ms: performance.now() - t0 };
}

/**
 * Opens `total` in two halves and reads `rss` after each: the second half's growth per connection
 * is the marginal cost, without the one-time growth (heap spaces, arenas) the first half pays.
 */
async function openInHalves(drivers: BenchChild[], total: number, concurrency: number, rss: () => number, settled: (held: number) => Promise<unknown>) {
  const half = Math.floor(total / 2);
  const a = await openAll(drivers, half, concurrency, () => undefined);
  await settled(a.held);
  await sleep(1_000); // let the heaps settle before reading RSS
  const halfRss = rss();
  const b = await openAll(drivers, total - half, concurrency, () => undefined);
  await settled(a.held + b.held);
  await sleep(1_000);
  const peakRss = rss();
  const held = a.held + b.held;
  return {
    held,
    failed: a.failed + b.failed,
    firstError: a.firstError ?? b.firstError,
    ms: a.ms + b.ms,
    peakRss,
    marginalBytesPerConn: (peakRss - halfRss) / Math.max(1, b.held),
  };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await sleep(200);
  }
  return cond();
}

export async function runHold(o: HoldOptions): Promise<HoldResult> {
  const log = o.log ?? (() => {});
  const count = o.servers ?? 5;
  const concurrency = o.concurrency ?? 200;
  // Each server process may hold a little under its open-file limit; beyond that it refuses and the client tries another.
  const runner = new ServerRunner({ count, zk: o.zk, root: o.root, host: '127.0.0.1', maxConnections: o.maxPerServer ?? DEFAULT_MAX_PER_SERVER, logLevel: 'warn', ...(o.serverExecArgv ? { execArgv: o.serverExecArgv } : {}) });
  const servers = await runner.start();
  const nDrivers = Math.max(2, Math.ceil(o.total / DEFAULT_PER_DRIVER));
  const drivers: BenchChild[] = [];
  const proxies: Haproxy[] = [];
  const live = async () => Promise.all(servers.map((s) => runner.stats(s.index)));
  const zkBalances = async () => Promise.all(servers.map(async (s) => decodeServerData((await o.admin.get(s.path, false))[1] as Buffer).balance));
  const serverRss = () => servers.reduce((a, s) => a + rssBytes(s.pid), 0);
  try {
    // fulcrum: clients pick the least-loaded server from their watched cache and connect straight to it.
    for (let i = 0; i < nDrivers; i++) drivers.push(new BenchChild('./driver-hold.js'));
    await Promise.all(drivers.map((d) => d.request('init', { target: { kind: 'fulcrum', zk: o.zk, root: o.root } })));
    await sleep(1_000);
    const idle = serverRss();
    const w0 = await live();
    log(`  fulcrum: opening ${o.total.toLocaleString('en-US')} connections from ${nDrivers} driver processes...`);
    const opened = await openInHalves(drivers, o.total, concurrency, serverRss, async (held) => {
      await until(async () => (await live()).reduce((a, s) => a + s.live, 0) === held, 30_000);
      await until(async () => {
        const [l, b] = await Promise.all([live(), zkBalances()]);
        return l.every((s, i) => s.live === b[i]);
      }, 10_000);
    });
    const peakLive = await live();
    const peakZk = await zkBalances();
    const peakRss = opened.peakRss;
    const peakExact = peakLive.every((s, i) => s.live === peakZk[i]) && peakZk.reduce((a, b) => a + b, 0) === opened.held;
    log(`  fulcrum: ${opened.held.toLocaleString('en-US')} held in ${(opened.ms / 1000).toFixed(1)} s; per server ${peakLive.map((s) => s.live).join(' / ')}; closing...`);
    await Promise.all(drivers.map((d) => d.request('closeAll')));
    await until(async () => (await live()).every((s) => s.live === 0), 30_000);
    const finalExact = await until(async () => (await zkBalances()).every((b) => b === 0), 10_000);
    const w1 = await live();
    await Promise.all(drivers.map((d) => d.stop()));
    drivers.length = 0;
    const fulcrum = {
      held: opened.held,
      failed: opened.failed,
      firstError: opened.firstError,
      openMs: opened.ms,
      bytesPerConn: (peakRss - idle) / Math.max(1, opened.held),
      marginalBytesPerConn: opened.marginalBytesPerConn,
      processes: count,
      peakExact,
      finalExact,
      writes: w1.reduce((a, s, i) => a + s.stats.writes - w0[i]!.stats.writes, 0),
      events: w1.reduce((a, s, i) => a + s.stats.events - w0[i]!.stats.events, 0),
      perServer: peakLive.map((s) => s.live),
    };

    if (o.haproxy === false) return { total: o.total, fulcrum };
    // HAProxy: the same servers behind leastconn; one HAProxy process per DEFAULT_PER_HAPROXY connections.
    const nProxies = Math.ceil(o.total / DEFAULT_PER_HAPROXY);
    for (let i = 0; i < nProxies; i++) proxies.push(new Haproxy({ backends: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), maxconn: DEFAULT_PER_HAPROXY + 100 }));
    const ports = await Promise.all(proxies.map((p) => p.start()));
    const proxyRss = () => proxies.reduce((a, p) => a + rssBytes(p.pid!), 0);
    for (let i = 0; i < nDrivers; i++) drivers.push(new BenchChild('./driver-hold.js'));
    await Promise.all(drivers.map((d) => d.request('init', { target: { kind: 'proxy', ports } })));
    await until(async () => (await live()).every((s) => s.live === 0), 10_000); // the start probes
    await sleep(500);
    const hIdle = proxyRss();
    log(`  haproxy: opening ${o.total.toLocaleString('en-US')} connections through ${nProxies} HAProxy process(es)...`);
    // No localAddress: bind() reserves a port number for every destination, and HAProxy's own
    // connects to the servers then run out of ephemeral ports.
    const hOpened = await openInHalves(drivers, o.total, concurrency, proxyRss, (held) => until(async () => (await live()).reduce((a, s) => a + s.live, 0) >= held, 30_000));
    const hPeak = hOpened.peakRss;
    log(`  haproxy: ${hOpened.held.toLocaleString('en-US')} held in ${(hOpened.ms / 1000).toFixed(1)} s; closing...`);
    await Promise.all(drivers.map((d) => d.request('closeAll')));
    await until(async () => (await live()).every((s) => s.live === 0), 30_000);
    const haproxy = {
      held: hOpened.held,
      failed: hOpened.failed,
      firstError: hOpened.firstError,
      openMs: hOpened.ms,
      bytesPerConn: (hPeak - hIdle) / Math.max(1, hOpened.held),
      marginalBytesPerConn: hOpened.marginalBytesPerConn,
      processes: nProxies,
    };
    return { total: o.total, fulcrum, haproxy };
  } finally {
    await Promise.all(drivers.map((d) => d.stop()));
    await Promise.all(proxies.map((p) => p.stop()));
    await runner.stop();
  }
}
