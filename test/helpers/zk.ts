import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import type ZooKeeper from 'zookeeper';
import { connectZk, type ZkConnectOptions } from '../../src/zk/connect.js';
import { ZkSession } from '../../src/zk/session.js';
import { connectStringOf, startCluster, type ClusterLayout } from '../../src/tools/local-zookeeper.js';
import { deleteTree, mkdirp } from '../../src/zk/paths.js';
import { NativeZkClient } from '../../src/zk/zk-client.js';

/** The ZooKeeper the test run shares; tickTime 1 s so sessions can time out in 2 s. Port: FULCRUM_TEST_ZK_PORT (default 2281). */
export const TEST_LAYOUT: ClusterLayout = { dir: '.zk/test', size: 1, basePort: Number(process.env.FULCRUM_TEST_ZK_PORT ?? 2281), tickMs: 1_000 };

/** Connect string of the shared test ZooKeeper, started on first use (it outlives the test file). */
export async function testZk(): Promise<string> {
  if (process.env.FULCRUM_TEST_ZK) return process.env.FULCRUM_TEST_ZK;
  await startCluster(TEST_LAYOUT);
  return (process.env.FULCRUM_TEST_ZK = connectStringOf(TEST_LAYOUT));
}

/** A raw handle for test set-up and inspection; close it in `after`. */
export async function rawZk(connect?: string): Promise<ZooKeeper> {
  return connectZk({ connect: connect ?? (await testZk()), sessionTimeoutMs: 4_000, connectTimeoutMs: 10_000 });
}

/** A fresh root path for one test, plus a cleanup that deletes it. */
export async function freshRoot(zk: ZooKeeper, label = 't'): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const base = `/fulcrum-test/${label}-${randomBytes(4).toString('hex')}`;
  const root = `${base}/servers`;
  const client = NativeZkClient.of(zk);
  await mkdirp(client, root);
  return { root, cleanup: () => deleteTree(client, base) };
}

/**
 * Registers before/after hooks for a test file: opens a raw handle on the shared test ZooKeeper
 * before the tests, hands it (and the connect string) to `set`, and closes it afterwards.
 */
export function useTestZk(set: (zk: ZooKeeper, connect: string) => void): void {
  let handle: ZooKeeper | undefined;
  before(async () => {
    const connect = await testZk();
    handle = await rawZk(connect);
    set(handle, connect);
  });
  after(() => handle?.close());
}

/** Like useTestZk, for a supervised ZkSession on the shared test ZooKeeper (started before, closed after). */
export function useTestSession(set: (session: ZkSession) => void, opts: Omit<ZkConnectOptions, 'connect'> = {}): void {
  let session: ZkSession | undefined;
  before(async () => {
    session = new ZkSession({ ...opts, connect: await testZk() });
    await session.start();
    set(session);
  });
  after(() => session?.close());
}

/** A fresh root on the test ZooKeeper, with a raw handle on it. */
export interface RootFixture {
  connect: string;
  raw: ZooKeeper;
  root: string;
}

/** Runs `fn` with a raw handle and a fresh root; the root is deleted and the handle closed afterwards. */
export async function withRoot<T>(label: string, fn: (f: RootFixture) => Promise<T>): Promise<T> {
  const connect = await testZk();
  const raw = await rawZk(connect);
  try {
    const { root, cleanup } = await freshRoot(raw, label);
    try {
      return await fn({ connect, raw, root });
    } finally {
      await cleanup().catch(() => {});
    }
  } finally {
    raw.close();
  }
}
