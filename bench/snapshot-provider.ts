// A BalanceProvider for the peer bench drivers (a fixed set of servers): the server list read
// once (no watched cache re-reading every balance change in the driver), strategy `least`, and
// the driver's own picks kept counted for the whole run, so they are the placement.
import { BalanceProvider } from '../src/balancing/balance-provider.js';
import { ServerCache } from '../src/discovery/server-cache.js';
import { ZkSession } from '../src/zk/session.js';

export async function snapshotProvider(zk: string, root: string): Promise<BalanceProvider> {
  const session = new ZkSession({ connect: zk });
  const cache = new ServerCache({ session, root });
  try {
    const snap = await cache.snapshot();
    return new BalanceProvider({ source: { snapshot: async () => snap }, strategy: 'least', root, pendingTtlMs: 3_600_000 });
  } finally {
    cache.close();
    session.close();
  }
}
