import type ZooKeeper from 'zookeeper';
import { ServerCache, type ServerCacheOptions } from '../../src/discovery/server-cache.js';
import { ZkSession } from '../../src/zk/session.js';
import { testZk, withRoot } from './zk.js';

/** Session timeout of the fixture's session: short, so expiry tests stay quick. @default 4_000 */
export const CACHE_FIXTURE_SESSION_TIMEOUT_MS = 4_000;

export interface CacheFixtureOptions {
  /** Prefix of the fresh root's name. @default 'cache' */
  label?: string;
  /** Where the cache's session connects (e.g. a fault proxy). @default the test ZooKeeper */
  connect?: string;
  cache?: Omit<ServerCacheOptions, 'session' | 'root'>;
}

/** A ServerCache (not yet started) on its own session, over a fresh root of the test ZooKeeper. */
export interface CacheFixture {
  /** Connect string of the test ZooKeeper (not the proxy's). */
  connect: string;
  /** A raw handle on the test ZooKeeper for writing nodes behind the cache's back. */
  raw: ZooKeeper;
  root: string;
  session: ZkSession;
  cache: ServerCache;
}

/** Opens a supervised session on the test ZooKeeper (or `connect`); the caller closes it. */
export async function startSession(connect?: string): Promise<ZkSession> {
  const session = new ZkSession({ connect: connect ?? (await testZk()), sessionTimeoutMs: CACHE_FIXTURE_SESSION_TIMEOUT_MS });
  await session.start();
  return session;
}

/** Runs `fn` with a raw handle, a fresh root, a session and a cache on it; always tears them down. */
export async function withCache<T>(opts: CacheFixtureOptions, fn: (f: CacheFixture) => Promise<T>): Promise<T> {
  return withRoot(opts.label ?? 'cache', async ({ connect, raw, root }) => {
    const session = await startSession(opts.connect ?? connect);
    const cache = new ServerCache({ ...opts.cache, session, root });
    try {
      return await fn({ connect, raw, root, session, cache });
    } finally {
      cache.close();
      session.close();
    }
  });
}
