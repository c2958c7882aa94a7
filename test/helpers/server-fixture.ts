import type net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { ClusterServer, type ClusterServerOptions } from '../../src/server/cluster-server.js';
import { eventually } from './eventually.js';
import { nodeData } from './nodes.js';
import { closeSockets, openSocket } from './socket.js';
import { withRoot } from './zk.js';

/** Options of the fixture's servers; `zk` defaults to the test ZooKeeper, `root` and `port` are the fixture's. */
export type FixtureServerOptions = Partial<Omit<ClusterServerOptions, 'root' | 'port'>>;

export interface ServerFixtureOptions {
  /** Servers started before the test body runs. @default 1 */
  count?: number;
  /** Prefix of the fresh root's name. @default 'srv' */
  label?: string;
  server?: FixtureServerOptions;
}

/** Real ClusterServers on port 0 under a fresh root of the test ZooKeeper, torn down after the test body. */
export interface ServerFixture {
  /** Connect string of the test ZooKeeper. */
  connect: string;
  /** A raw handle for set-up and inspection. */
  zk: ZooKeeper;
  root: string;
  servers: ClusterServer[];
  /** The first server. */
  server: ClusterServer;
  /** Starts another server on the same root (torn down with the rest). */
  add(opts?: FixtureServerOptions): Promise<ClusterServer>;
  /** Opens a TCP connection to a server (default: the first), closed at teardown. */
  open(to?: ClusterServer | number): Promise<net.Socket>;
  /** Every socket `open` made. */
  sockets: net.Socket[];
}

/** Starts n in-process servers on free ports; close them with closeAll. */
export async function startServers(n: number, opts: Omit<ClusterServerOptions, 'port'>): Promise<ClusterServer[]> {
  const servers = Array.from({ length: n }, () => new ClusterServer({ ...opts, port: 0 }));
  await Promise.all(servers.map((s) => s.listen()));
  return servers;
}

export async function closeAll(servers: readonly ClusterServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
}

/** Runs `fn` with `opts.count` started servers on a fresh root; sockets, servers, root and handle are always torn down. */
export async function withServer<T>(opts: ServerFixtureOptions, fn: (f: ServerFixture) => Promise<T>): Promise<T> {
  return withRoot(opts.label ?? 'srv', async ({ connect, raw: zk, root }) => {
    const servers: ClusterServer[] = [];
    const sockets: net.Socket[] = [];
    const add = async (o: FixtureServerOptions = {}) => {
      const s = new ClusterServer({ zk: connect, ...opts.server, ...o, root, port: 0 });
      servers.push(s);
      await s.listen();
      return s;
    };
    try {
      await Promise.all(Array.from({ length: opts.count ?? 1 }, () => add()));
      return await fn({
        connect,
        zk,
        root,
        servers,
        get server() {
          return servers[0]!;
        },
        add,
        async open(to = 0) {
          const s = typeof to === 'number' ? servers[to]! : to;
          const sock = await openSocket(s.endpoint!.port);
          sockets.push(sock);
          return sock;
        },
        sockets,
      });
    } finally {
      await closeSockets(sockets);
      await closeAll(servers);
    }
  });
}

/** Waits until each server's node in ZooKeeper holds its live socket count. */
export async function balancesExact(zk: ZooKeeper, root: string, servers: readonly ClusterServer[], timeoutMs = 10_000): Promise<boolean> {
  return eventually(
    async () => {
      const nodes = await nodeData(zk, root);
      return servers.every((s) => nodes.get(s.id)?.balance === s.connections.size);
    },
    timeoutMs,
    50,
  );
}
