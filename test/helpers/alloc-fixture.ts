import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { AllocService, type AllocServiceOptions } from '../../src/alloc/alloc-service.js';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { ZkSession } from '../../src/zk/session.js';
import { eventually } from './eventually.js';
import { closeSockets } from './socket.js';
import { withRoot } from './zk.js';

/**
 * One alloc service on a fresh root of the real test ZooKeeper, plus in-process ClusterServers
 * on port 0. Torn down after the test body in the right order (sockets, service, servers, session, root).
 */
export interface AllocFixture {
  connect: string;
  /** A raw handle for inspecting ZooKeeper directly. */
  raw: ZooKeeper;
  root: string;
  session: ZkSession;
  service: AllocService;
  /** Base URL with a trailing slash. */
  url: string;
  servers: ClusterServer[];
  addServers(n: number): Promise<ClusterServer[]>;
  /** Sockets the test opened; closed first at teardown. */
  sockets: net.Socket[];
}

export interface AllocFixtureOptions {
  /** Servers started (and seen by the service) before the test body runs. @default 0 */
  servers?: number;
  /** Prefix of the fresh root's name. @default 'alloc' */
  label?: string;
  service?: Partial<AllocServiceOptions>;
  /** Where the service's session connects (e.g. a fault proxy). @default the test ZooKeeper */
  connect?: string;
}

/** Runs `fn` with a started alloc service (see AllocFixture); everything is torn down afterwards. */
export async function withAlloc<T>(opts: AllocFixtureOptions, fn: (f: AllocFixture) => Promise<T>): Promise<T> {
  return withRoot(opts.label ?? 'alloc', async ({ connect, raw, root }) => {
    const session = new ZkSession({ connect: opts.connect ?? connect, sessionTimeoutMs: 4_000, connectTimeoutMs: 10_000 });
    const servers: ClusterServer[] = [];
    const sockets: net.Socket[] = [];
    const service = new AllocService({ session, root, port: 0, defaultMetrics: false, ...opts.service });
    const addServers = async (n: number) => {
      const added = Array.from({ length: n }, () => new ClusterServer({ zk: connect, root, port: 0, sessionTimeoutMs: 4_000 }));
      servers.push(...added);
      await Promise.all(added.map((s) => s.listen()));
      // Tests reason about what the service shows; wait until its cache has seen the new nodes.
      const names = added.map((s) => s.id);
      const seen = await eventually(() => names.every((n) => service.cache.current().servers.some((x) => x.name === n)));
      if (!seen) throw new Error('the alloc service did not see the new servers');
      return added;
    };
    try {
      const { url } = await service.start();
      await addServers(opts.servers ?? 0);
      return await fn({ connect, raw, root, session, service, url, servers, addServers, sockets });
    } finally {
      await closeSockets(sockets);
      await service.close().catch(() => {});
      await Promise.all(servers.map((s) => s.close().catch(() => {})));
      session.close();
    }
  });
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

/** One HTTP(S) request; `body` objects are sent as JSON unless a content-type is given; `ca` is the CA an https URL is verified against. */
export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown; agent?: http.Agent; ca?: string | Buffer } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) {
      payload = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const client = url.startsWith('https:') ? https : http;
    const req = client.request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Sends raw bytes and returns the raw answer once the service closes the socket (it does after
 * an error). `halfClose: false` leaves our side open, as a client still sending its body would.
 */
export function rawHttp(port: number, text: string, opts: { halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => (opts.halfClose === false ? s.write(text) : s.end(text)));
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** The `{error:{code}}` of a JSON error answer. */
export function errorCode(a: HttpAnswer): string | undefined {
  try {
    return a.json<{ error?: { code?: string } }>().error?.code;
  } catch {
    return undefined;
  }
}

/** Number of children and the root's cversion: both unchanged means nothing was created or deleted. */
export async function rootState(raw: ZooKeeper, root: string): Promise<{ children: number; cversion: number; mzxids: string }> {
  const [stat] = (await raw.get(root, false)) as [{ cversion: number }, unknown];
  const names: string[] = await raw.get_children(root, false);
  const mz = await Promise.all(names.sort().map(async (n) => `${n}@${((await raw.get(`${root}/${n}`, false)) as [{ mzxid: number }])[0].mzxid}`));
  return { children: names.length, cversion: Number(stat.cversion), mzxids: mz.join(',') };
}

/** A parsed `/events` stream: every data payload in order, with a way to wait for one. */
export interface EventClient {
  readonly events: unknown[];
  readonly comments: string[];
  /** Resolves with the first event (already received or future) matching `fn`. */
  waitFor<T>(fn: (e: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): void;
}

export function openEvents(url: string): Promise<EventClient> {
  return new Promise((resolve, reject) => {
    const events: unknown[] = [];
    const comments: string[] = [];
    const waiters = new Set<() => void>();
    let buf = '';
    const req = http.get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`/events answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          for (const line of block.split('\n')) {
            if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)));
            else if (line.startsWith(':')) comments.push(line);
          }
        }
        for (const w of [...waiters]) w();
      });
      res.on('error', () => {});
      resolve({
        events,
        comments,
        waitFor<T>(fn: (e: T) => boolean, timeoutMs = 10_000) {
          return new Promise<T>((ok, fail) => {
            const check = () => {
              const hit = (events as T[]).find(fn);
              if (hit === undefined) return false;
              waiters.delete(check);
              clearTimeout(timer);
              ok(hit);
              return true;
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(-3))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
  });
}
