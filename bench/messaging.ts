// Messaging benchmarks (part of npm run bench; npm run bench -- --only messaging for these alone):
// ZooKeeper writes per login in a 10,000-login storm, login → welcome (the route stored in
// ZooKeeper first) and login → route visible in every router,
// pushes per second and push → receipt latency through the library Router, broadcast to 10,000.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Router } from '../src/messaging/router.js';
import { encodeFrame, FrameDecoder } from '../src/protocol/frames.js';
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { connectZk } from '../src/zk/connect.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';

const STORM = 10_000;
const PACED = 300;
const ROUTERS = 3;

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** A bare protocol client: logs in, acks every message and notes when messages arrive. */
export class BenchUser {
  readonly socket: net.Socket;
  received = 0;
  lastAt = 0;
  /** performance.now() when `welcome` arrived. */
  welcomeAt = 0;
  latencies: number[] | undefined;
  private readonly decoder = new FrameDecoder();
  readonly welcomed: Promise<void>;

  constructor(port: number, readonly user: string) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    let welcome!: () => void;
    let fail!: (e: Error) => void;
    this.welcomed = new Promise<void>((res, rej) => ((welcome = res), (fail = rej)));
    this.socket.once('close', () => fail(new Error(`${user}: closed`)));
    this.socket.on('data', (b: Buffer) => {
      for (const m of this.decoder.push(b) as { type: string; id?: unknown; body?: { t?: number } }[]) {
        if (m.type === 'welcome') {
          this.welcomeAt = performance.now();
          welcome();
        }
        else if (m.type === 'message') {
          this.received++;
          this.lastAt = performance.now();
          if (this.latencies && typeof m.body?.t === 'number') this.latencies.push(this.lastAt - m.body.t);
          this.socket.write(encodeFrame({ type: 'ack', id: m.id }));
        }
      }
    });
    this.socket.write(encodeFrame({ type: 'login', user }));
  }
}

export async function withConcurrency<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export async function messagingBench(zkConnect: string): Promise<void> {
  const base = `/fulcrum-bench/${process.pid}-msg`;
  const root = `${base}/servers`;
  const admin = NativeZkClient.of(await connectZk({ connect: zkConnect }));
  await mkdirp(admin, root);
  const interval = process.env.FULCRUM_ROUTE_WRITE_INTERVAL_MS ? Number(process.env.FULCRUM_ROUTE_WRITE_INTERVAL_MS) : undefined;
  const runner = new ServerRunner({ count: 2, zk: zkConnect, root, host: '127.0.0.1', routeWriteIntervalMs: interval, logLevel: 'warn' });
  const routers = Array.from({ length: ROUTERS }, () => new Router({ zk: zkConnect, root }));
  const users: BenchUser[] = [];
  try {
    const servers = await runner.start();
    await Promise.all(routers.map((r) => r.start()));
    const ports = servers.map((s) => s.port);

    // 1. Paced logins: from sending `login` to `welcome` (the server waits for ZooKeeper's ack of the
    // route write), and to the route being in every router's table.
    const visible: number[] = [];
    const welcomed: number[] = [];
    for (let i = 0; i < PACED; i++) {
      const user = `paced-${i}`;
      const seen = routers.map((r) => new Promise<number>((resolve) => {
        const on = (changed: readonly string[]) => {
          if (changed.includes(user) && r.route(user)) {
            r.routes.off('changed', on);
            resolve(performance.now());
          }
        };
        r.routes.on('changed', on);
      }));
      const t0 = performance.now();
      const u = new BenchUser(ports[i % ports.length]!, user);
      users.push(u);
      visible.push(Math.max(...(await Promise.all(seen))) - t0);
      await u.welcomed;
      welcomed.push(u.welcomeAt - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    const w99 = quantile(welcomed, 0.99);
    console.log(`login -> welcome (${PACED} logins 10 ms apart; the route is in ZooKeeper before welcome is sent)`);
    console.log(`  p50 ${quantile(welcomed, 0.5).toFixed(2)} ms · p99 ${w99.toFixed(2)} ms · max ${Math.max(...welcomed).toFixed(2)} ms   (target p99 <= 30 ms) ${w99 <= 30 ? 'OK' : 'MISSED'}`);
    console.log(`login -> route visible in all ${ROUTERS} routers (${PACED} logins 10 ms apart, login sent to last router's table)`);
    const p99 = quantile(visible, 0.99);
    console.log(`  p50 ${quantile(visible, 0.5).toFixed(2)} ms · p99 ${p99.toFixed(2)} ms · max ${Math.max(...visible).toFixed(2)} ms   (target p99 <= 50 ms) ${p99 <= 50 ? 'OK' : 'MISSED'}\n`);

    // 2. Storm: 10,000 logins, 200 in flight; ZooKeeper writes counted by the servers.
    const writesBefore = (await Promise.all(servers.map((s) => runner.stats(s.index)))).reduce((n, s) => n + s.stats.routeWrites, 0);
    const t0 = performance.now();
    const storm = Array.from({ length: STORM }, (_, i) => i);
    await withConcurrency(storm, 200, async (i) => {
      const u = new BenchUser(ports[i % ports.length]!, `storm-${i}`);
      users.push(u);
      await u.welcomed;
    });
    const loginsPerSec = STORM / ((performance.now() - t0) / 1000);
    const allVisible = async () => routers.every((r) => r.routes.size === PACED + STORM);
    for (let i = 0; i < 400 && !(await allVisible()); i++) await new Promise((r) => setTimeout(r, 25));
    const visibleAfter = performance.now() - t0;
    const stats = await Promise.all(servers.map((s) => runner.stats(s.index)));
    const writes = stats.reduce((n, s) => n + s.stats.routeWrites, 0) - writesBefore;
    const ratio = writes / STORM;
    console.log(`ZooKeeper writes during a ${STORM.toLocaleString('en')}-login storm (2 servers, 200 logins in flight)`);
    console.log(`  logins/s           ${loginsPerSec.toFixed(0).padStart(7)}`);
    console.log(`  route node writes  ${String(writes).padStart(7)}   (shards: ${stats.map((s) => s.stats.routeShards).join(' + ')})`);
    console.log(`  writes per login   ${ratio.toFixed(4).padStart(7)}   (target <= 0.05) ${ratio <= 0.05 ? 'OK' : 'MISSED'}`);
    console.log(`  all ${PACED + STORM} routes in all routers ${(await allVisible()) ? 'yes' : 'NO'}, ${visibleAfter.toFixed(0)} ms after the storm began\n`);

    // 3. Pushes through the library client: latency one at a time, then throughput with 64 in flight.
    const push = routers[0]!;
    for (const u of users) u.latencies = [];
    for (let i = 0; i < 500; i++) await push.push(users[(i * 7919) % users.length]!.user, { t: performance.now() });
    const lat = users.flatMap((u) => u.latencies!);
    for (const u of users) u.latencies = undefined;
    const N = 5_000;
    const tp0 = performance.now();
    await withConcurrency(Array.from({ length: N }, (_, i) => i), 64, async (i) => {
      await push.push(users[(i * 7919) % users.length]!.user, { n: i });
    });
    const pps = N / ((performance.now() - tp0) / 1000);
    console.log('push through the library Router (route table + persistent gateway connections, acked by the client)');
    console.log(`  push -> receipt    p50 ${quantile(lat, 0.5).toFixed(2)} ms · p99 ${quantile(lat, 0.99).toFixed(2)} ms   (${lat.length} sequential pushes)`);
    console.log(`  acked pushes/s     ${pps.toFixed(0).padStart(7)}   (${N} pushes, 64 in flight)\n`);

    // 4. Broadcast to everybody online.
    const before = users.map((u) => u.received);
    const tb0 = performance.now();
    const fan = await push.broadcast({ all: true });
    for (let i = 0; i < 2_000 && users.some((u, k) => u.received === before[k]); i++) await new Promise((r) => setTimeout(r, 5));
    const all = users.every((u, k) => u.received === before[k]! + 1);
    const last = Math.max(...users.map((u) => u.lastAt)) - tb0;
    console.log(`broadcast to ${users.length.toLocaleString('en')} online users on ${fan.servers} servers`);
    console.log(`  recipients ${fan.recipients} · every user exactly once ${all ? 'yes' : 'NO'} · last receipt after ${last.toFixed(0)} ms`);
  } finally {
    for (const u of users) u.socket.destroy();
    routers.forEach((r) => r.close());
    await runner.stop();
    await deleteTree(admin, base);
    admin.close();
  }
}
