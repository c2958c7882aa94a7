import { spreadOf, type Spread } from '../balance-table.js';
import type { ScenarioContext } from './scenario.js';

export interface Settled {
  /** ZooKeeper's balances add up to the live connections and match each server's sockets. */
  exact: boolean;
  spread: Spread;
  /** Servers whose node disagreed with their live socket count, as "name zk=X live=Y". */
  drift: string[];
}

/**
 * Waits until the cache's balances stop moving and add up to what the servers hold, then
 * compares every node with its server's real socket count.
 */
export async function settle(ctx: ScenarioContext, timeoutMs = 10_000): Promise<Settled> {
  const deadline = Date.now() + timeoutMs;
  const running = () => ctx.servers.servers.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
  let drift: string[] = [];
  for (;;) {
    const live = new Map<string, number>();
    for (const s of running()) {
      try {
        live.set(s.id, (await ctx.servers.stats(s.index)).live);
      } catch {
        /* exiting */
      }
    }
    const nodes = ctx.cache.current().servers;
    drift = [];
    for (const [name, n] of live) {
      const node = nodes.find((x) => x.name === name);
      if (node?.balance !== n) drift.push(`${name} zk=${node?.balance ?? 'missing'} live=${n}`);
    }
    if (drift.length === 0 || Date.now() > deadline) {
      const balances = nodes.filter((n) => live.has(n.name)).map((n) => n.balance);
      return { exact: drift.length === 0, spread: spreadOf(balances), drift };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
