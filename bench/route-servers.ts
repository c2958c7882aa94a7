// Servers that keep the whole route table (watched) beside servers that keep their own users and
// ask for the rest (on-demand), measured on the same work: logins over raw TCP spread over 3
// server processes, then private sends between users on different servers. Counts what the
// servers read from the route shards in ZooKeeper and how many times they asked each other.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RouteViewKind } from '../src/messaging/router.js';
import type { RouteTable } from '../src/messaging/routes/route-table.js';
import type { RouteLookup } from '../src/messaging/routes/route-lookup.js';
import { MessagingServer } from '../src/messaging/messaging-server.js';
import { encodeFrame, FrameDecoder } from '../src/protocol/frames.js';
import { mkdirp } from '../src/zk/paths.js';
import type { ZkClient } from '../src/zk/zk-client.js';
import { summarize, type Summary } from './percentiles.js';
import { withConcurrency } from './messaging.js';

const SERVERS = 3;
const USERS = 3_000;
const SENDS = 1_000;

export interface RouteServersRow {
  mode: RouteViewKind;
  logins: number;
  /** Route shard reads by the servers (every server's view), and their bytes. */
  shardReads: number;
  shardReadBytes: number;
  /** Lookups that asked the other servers (on demand). */
  asks: number;
  welcome: Summary;
  sent: Summary;
  undelivered: number;
}

/** A raw protocol user: login, time to welcome, sends with their `sent` answers. */
class RawUser {
  private readonly socket;
  private readonly decoder = new FrameDecoder();
  private readonly waiting = new Map<number, (delivered: boolean) => void>();
  private next = 0;
  readonly welcomed: Promise<number>;

  constructor(port: number, user: string) {
    const t0 = performance.now();
    this.socket = netConnect(port);
    let welcome!: (ms: number) => void;
    this.welcomed = new Promise((r) => (welcome = r));
    this.socket.on('data', (b: Buffer) => {
      for (const m of this.decoder.push(b) as { type: string; id?: unknown; delivered?: boolean }[]) {
        if (m.type === 'welcome') welcome(performance.now() - t0);
        else if (m.type === 'message') this.socket.write(encodeFrame({ type: 'ack', id: m.id }));
        else if (m.type === 'sent') this.waiting.get(m.id as number)?.(m.delivered === true);
      }
    });
    this.socket.write(encodeFrame({ type: 'login', user }));
  }

  send(to: string): Promise<{ ms: number; delivered: boolean }> {
    const id = ++this.next;
    const t0 = performance.now();
    return new Promise((resolve) => {
      this.waiting.set(id, (delivered) => resolve({ ms: performance.now() - t0, delivered }));
      this.socket.write(encodeFrame({ type: 'send', id, to, body: 'x' }));
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function netConnect(port: number): net.Socket {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  s.on('error', () => {});
  return s;
}

export async function runRouteServers(o: { zk: string; admin: ZkClient; base: string }): Promise<RouteServersRow[]> {
  const rows: RouteServersRow[] = [];
  for (const mode of ['watched', 'on-demand'] as const) {
    const root = `${o.base}/servers-${mode}`;
    await mkdirp(o.admin, root);
    const servers = Array.from({ length: SERVERS }, () => new MessagingServer({ zk: o.zk, root, port: 0, host: '127.0.0.1', routes: mode }));
    const users: RawUser[] = [];
    try {
      await Promise.all(servers.map((s) => s.listen()));
      const welcome: number[] = [];
      const names = Array.from({ length: USERS }, (_, i) => `rs-${i}`);
      await withConcurrency(names, 100, async (name) => {
        const i = users.length;
        const u = new RawUser(servers[i % SERVERS]!.endpoint!.port, name);
        users.push(u);
        welcome.push(await u.welcomed);
      });
      const sent: number[] = [];
      let undelivered = 0;
      // User i sends to user i + 1 (on the next server), each receiver once.
      await withConcurrency(Array.from({ length: SENDS }, (_, i) => i), 16, async (i) => {
        const r = await users[i]!.send(`rs-${i + 1}`);
        sent.push(r.ms);
        if (!r.delivered) undelivered++;
      });
      const views = servers.map((s) => s.router.routes);
      const shardReads = mode === 'watched' ? views.reduce((n, v) => n + (v as RouteTable).stats.reads, 0) : 0;
      const shardReadBytes = mode === 'watched' ? views.reduce((n, v) => n + (v as RouteTable).stats.readBytes, 0) : 0;
      const asks = mode === 'on-demand' ? views.reduce((n, v) => n + (v as RouteLookup).stats.asks, 0) : 0;
      rows.push({ mode, logins: USERS, shardReads, shardReadBytes, asks, welcome: summarize(welcome), sent: summarize(sent), undelivered });
    } finally {
      for (const u of users) u.close();
      await Promise.all(servers.map((s) => s.close().catch(() => {})));
    }
  }
  return rows;
}
