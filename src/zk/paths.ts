import { InvalidArgumentError } from '../errors.js';
import { C, isZk } from './codes.js';
import type { ZkClient } from './zk-client.js';

export const DEFAULT_ROOT = '/fulcrum/servers';

export function validateRoot(root: string): string {
  if (!/^(\/[^/\s]+)+$/.test(root)) throw InvalidArgumentError.format('--root', `must be an absolute ZooKeeper path like /fulcrum/servers, got ${JSON.stringify(root)}`);
  return root;
}

/** Creates every missing node of `path` as a persistent, empty node. */
export async function mkdirp(zk: ZkClient, path: string): Promise<void> {
  let cur = '';
  for (const part of path.split('/').filter(Boolean)) {
    cur += `/${part}`;
    try {
      await zk.create(cur, Buffer.alloc(0), C.ZOO_PERSISTENT);
    } catch (e) {
      if (!isZk(e, C.ZNODEEXISTS)) throw e;
    }
  }
}

/** Deletes `path` and everything below it; missing nodes are fine. */
export async function deleteTree(zk: ZkClient, path: string): Promise<void> {
  let children: string[];
  try {
    children = await zk.children(path);
  } catch (e) {
    if (isZk(e, C.ZNONODE)) return;
    throw e;
  }
  await Promise.all(children.map((c) => deleteTree(zk, `${path}/${c}`)));
  try {
    await zk.delete(path, -1);
  } catch (e) {
    if (!isZk(e, C.ZNONODE)) throw e;
  }
}
