// Balance writes in ZooKeeper: how many a connection burst costs, and how fast a change reaches
// watching caches, with the default publishing and with the adaptive publish policy.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type ZooKeeper from 'zookeeper';
import { ServerCache } from '../src/discovery/server-cache.js';
import { decodeServerData } from '../src/server-data.js';
import { ClusterServer } from '../src/server/cluster-server.js';
import { ZkSession } from '../src/zk/session.js';
import { summarize, type Summary } from './percentiles.js';

const noop = () => {};

export interface BurstResult {
  events: number;
  writes: number;
  peakExact: boolean;
  finalExact: boolean;
}

/** `n` connections opened (250 in flight), then all reset; the balance must be exact at both ends. */
export async function burstWrites(zk: string, root: string, admin: ZooKeeper, adaptive: boolean, n = 5_000): Promise<BurstResult> {
  const server = new ClusterServer({ zk, root, handler: noop, publishPolicy: adaptive });
  const { port } = await server.listen();
  const socks: net.Socket[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: 250 }, async () => {
      while (started < n) {
        started++;
        socks.push(await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }));
      }
    }),
  );
  while (server.connections.size < n) await new Promise((r) => setTimeout(r, 10));
  await server.flushed();
  const readBalance = async () => decodeServerData((await admin.get(server.nodePath!, false))[1] as Buffer).balance;
  const peakExact = (await readBalance()) === n;
  for (const s of socks) s.resetAndDestroy();
  while (server.connections.size > 0) await new Promise((r) => setTimeout(r, 10));
  await server.flushed();
  const finalExact = (await readBalance()) === 0;
  const { events, writes } = server.stats;
  await server.close();
  return { events, writes, peakExact, finalExact };
}

export interface PropagationResult {
  caches: number;
  /** From the server accepting (or losing) a connection to each cache showing the new balance. */
  important: Summary;
  /** From setData's answer to each cache showing it (ZooKeeper's own part). */
  fromWrite: Summary;
}

/**
 * An important change at a time — a server's first connection arriving and leaving (0 → 1 → 0),
 * the change the policy must never hold back — timed into `caches` watch-driven caches.
 */
export async function propagation(zk: string, root: string, adaptive: boolean, cycles = 60, cacheCount = 4): Promise<PropagationResult> {
  const server = new ClusterServer({ zk, root, handler: noop, publishPolicy: adaptive });
  const { port } = await server.listen();
  const sessions = Array.from({ length: cacheCount }, () => new ZkSession({ connect: zk }));
  const caches = sessions.map((session) => new ServerCache({ session, root }));
  await Promise.all(caches.map((c) => c.start()));
  const important: number[] = [];
  const fromWrite: number[] = [];
  const step = async (target: number, act: () => void) => {
    const seen = caches.map((c) => new Promise<number>((resolve) => {
      const on = () => {
        if (c.current().servers.find((s) => s.port === port)?.balance === target) {
          c.off('snapshot', on);
          resolve(performance.now());
        }
      };
      c.on('snapshot', on);
    }));
    const written = new Promise<number>((resolve) => {
      const on = (b: number) => {
        if (b !== target) return;
        server.off('balanceWritten', on);
        resolve(performance.now());
      };
      server.on('balanceWritten', on);
    });
    const changed = new Promise<number>((resolve) => {
      if (target > 0) server.once('connection', () => resolve(performance.now()));
      else {
        const poll = () => (server.connections.size === 0 ? resolve(performance.now()) : setImmediate(poll));
        poll();
      }
    });
    act();
    const [t0, w, ...ts] = await Promise.all([changed, written, ...seen]);
    for (const t of ts) {
      important.push(Math.max(0, t - t0));
      fromWrite.push(Math.max(0, t - w));
    }
  };
  try {
    for (let i = 0; i < cycles; i++) {
      let sock: net.Socket | undefined;
      await step(1, () => {
        sock = net.connect(port, '127.0.0.1');
      });
      await new Promise((r) => setTimeout(r, 30));
      await step(0, () => sock!.resetAndDestroy());
      await new Promise((r) => setTimeout(r, 30));
    }
  } finally {
    caches.forEach((c) => c.close());
    sessions.forEach((s) => s.close());
    await server.close();
  }
  return { caches: cacheCount, important: summarize(important), fromWrite: summarize(fromWrite) };
}
