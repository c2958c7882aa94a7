// Pushes through the allocation service's HTTP API beside the library Router, in one run:
// push → receipt latency one at a time, and acked pushes per second with 64 in flight.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { AllocService } from '../src/alloc/alloc-service.js';
import { Router } from '../src/messaging/router.js';
import { ServerRunner } from '../src/tools/runner/server-runner.js';
import { connectZk } from '../src/zk/connect.js';
import { NativeZkClient } from '../src/zk/zk-client.js';
import { deleteTree, mkdirp } from '../src/zk/paths.js';
import { ZkSession } from '../src/zk/session.js';
import { BenchUser, quantile, withConcurrency } from './messaging.js';

const USERS = 1_000;
const SEQUENTIAL = 500;
const CONCURRENT = 5_000;
const IN_FLIGHT = 64;

function postJson(agent: http.Agent, url: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function httpPushBench(zkConnect: string): Promise<void> {
  const base = `/fulcrum-bench/${process.pid}-http`;
  const root = `${base}/servers`;
  const admin = NativeZkClient.of(await connectZk({ connect: zkConnect }));
  await mkdirp(admin, root);
  const runner = new ServerRunner({ count: 2, zk: zkConnect, root, host: '127.0.0.1', logLevel: 'warn' });
  const session = new ZkSession({ connect: zkConnect });
  const service = new AllocService({ session, root, port: 0, defaultMetrics: false });
  const lib = new Router({ zk: zkConnect, root });
  const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const users: BenchUser[] = [];
  try {
    const servers = await runner.start();
    const { url } = await service.start();
    await lib.start();
    await withConcurrency(Array.from({ length: USERS }, (_, i) => i), 100, async (i) => {
      const u = new BenchUser(servers[i % servers.length]!.port, `http-${i}`);
      users.push(u);
      await u.welcomed;
    });
    const routed = () => service.push.routes.size === USERS && lib.routes.size === USERS;
    for (let i = 0; i < 400 && !routed(); i++) await new Promise((r) => setTimeout(r, 25));
    const pick = (i: number) => users[(i * 7919) % users.length]!.user;

    // Alternate the two paths in rounds so machine noise hits both alike.
    const latency = { lib: [] as number[], http: [] as number[] };
    const failed = { lib: 0, http: 0 };
    for (let round = 0; round < 5; round++) {
      for (const path of ['lib', 'http'] as const) {
        for (const u of users) u.latencies = latency[path];
        for (let i = 0; i < SEQUENTIAL / 5; i++) {
          const user = pick(round * 1000 + i);
          if (path === 'lib') await lib.push(user, { t: performance.now() });
          else if ((await postJson(agent, `${url}push`, { user, message: { t: performance.now() } })) !== 200) failed.http++;
        }
      }
    }
    for (const u of users) u.latencies = undefined;
    const rate = { lib: 0, http: 0 };
    for (const path of ['lib', 'http'] as const) {
      const t0 = performance.now();
      await withConcurrency(Array.from({ length: CONCURRENT }, (_, i) => i), IN_FLIGHT, async (i) => {
        if (path === 'lib') await lib.push(pick(i), { n: i }).catch(() => failed.lib++);
        else if ((await postJson(agent, `${url}push`, { user: pick(i), message: { n: i } })) !== 200) failed.http++;
      });
      rate[path] = CONCURRENT / ((performance.now() - t0) / 1000);
    }
    const row = (name: string, l: number[], r: number) =>
      `  ${name.padEnd(18)} p50 ${quantile(l, 0.5).toFixed(2).padStart(6)} ms · p99 ${quantile(l, 0.99).toFixed(2).padStart(6)} ms · ${r.toFixed(0).padStart(6)} acked pushes/s`;
    console.log(`push -> receipt through HTTP POST /push vs the library Router (${USERS} users on 2 servers; ${SEQUENTIAL} sequential pushes each, then ${CONCURRENT} with ${IN_FLIGHT} in flight)`);
    console.log(row('library Router', latency.lib, rate.lib));
    console.log(row('HTTP POST /push', latency.http, rate.http));
    console.log(`  HTTP / library     latency p50 × ${(quantile(latency.http, 0.5) / quantile(latency.lib, 0.5)).toFixed(2)} · throughput × ${(rate.http / rate.lib).toFixed(2)} · failed ${failed.lib + failed.http}\n`);
  } finally {
    agent.destroy();
    for (const u of users) u.socket.destroy();
    lib.close();
    await service.close();
    session.close();
    await runner.stop();
    await deleteTree(admin, base);
    admin.close();
  }
}
