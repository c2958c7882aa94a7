import type ZooKeeper from 'zookeeper';
import { decodeServerData, type ServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { zkCodeOf } from '../../src/zk/zk-client.js';

/** The parts of a znode stat tests look at; the ids as strings (the addon hands out hex strings). */
export interface NodeStat {
  ephemeralOwner: string;
  czxid: string;
  version: number;
  aversion: number;
}

/** The node's stat, or undefined when it does not exist (other errors throw). */
export async function statOf(zk: ZooKeeper, path: string): Promise<NodeStat | undefined> {
  try {
    const s = (await zk.exists(path, false)) as { ephemeralOwner: unknown; czxid: unknown; version: number; aversion: number };
    return { ephemeralOwner: String(s.ephemeralOwner), czxid: String(s.czxid), version: s.version, aversion: s.aversion };
  } catch (e) {
    if (zkCodeOf(e) === C.ZNONODE) return undefined;
    throw e;
  }
}

/** The node's decoded ServerData, or undefined when it does not exist or does not decode. */
export async function dataOf(zk: ZooKeeper, path: string): Promise<ServerData | undefined> {
  try {
    const [, buf] = (await zk.get(path, false)) as [unknown, Buffer];
    return decodeServerData(buf);
  } catch {
    return undefined;
  }
}

/** Every node's decoded data under root, read straight from ZooKeeper (nodes deleted meanwhile or not decoding are left out). */
export async function nodeData(zk: ZooKeeper, root: string): Promise<Map<string, ServerData>> {
  const names: string[] = await zk.get_children(root, false);
  const out = new Map<string, ServerData>();
  await Promise.all(
    names.map(async (n) => {
      const d = await dataOf(zk, `${root}/${n}`);
      if (d) out.set(n, d);
    }),
  );
  return out;
}
