import net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { ClusterServer, type ClusterServerOptions } from '../../src/server/cluster-server.js';
import { decodeServerData, type ServerData } from '../../src/server-data.js';
import { eventually } from './zk.js';

/** Starts n in-process servers on free ports; close them with closeAll. */
export async function startServers(n: number, opts: Omit<ClusterServerOptions, 'port'>): Promise<ClusterServer[]> {
  const servers = Array.from({ length: n }, () => new ClusterServer({ ...opts, port: 0 }));
  await Promise.all(servers.map((s) => s.listen()));
  return servers;
}

export async function closeAll(servers: readonly ClusterServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close().catch(() => {})));
}

/** Every node's decoded data under root, read straight from ZooKeeper. */
export async function zkBalances(zk: ZooKeeper, root: string): Promise<Map<string, ServerData>> {
  const names: string[] = await zk.get_children(root, false);
  const out = new Map<string, ServerData>();
  await Promise.all(
    names.map(async (n) => {
      const [, data] = await zk.get(`${root}/${n}`, false);
      out.set(n, decodeServerData(data));
    }),
  );
  return out;
}

/** Opens a raw TCP connection and resolves once it is established. */
export function openSocket(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => resolve(s));
    s.once('error', reject);
  });
}

export function closeSocket(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.once('close', () => resolve());
    s.destroy();
  });
}

/** Waits until each server's node in ZooKeeper holds its live socket count. */
export async function balancesExact(zk: ZooKeeper, root: string, servers: readonly ClusterServer[], timeoutMs = 10_000): Promise<boolean> {
  return eventually(async () => {
    const nodes = await zkBalances(zk, root);
    return servers.every((s) => nodes.get(s.id)?.balance === s.connections.size);
  }, timeoutMs, 50);
}
