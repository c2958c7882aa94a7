import { formatSpread } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const FLEET_FAILOVER_BOUND = 0.1;
/** Independent clients reading at the same moment in the fast variant (1,000 clients). */
export const FLEET_FAILOVER_FAST_CONCURRENT_READS = 64;
/** Orphans that have not re-homed by then count as lost. */
export const FLEET_REHOME_TIMEOUT_MS = 15_000;

export const fleetFailover: Scenario = {
  name: 'fleet-failover',
  description: 'kill -9 one of 5 servers holding ~1,000 independent clients each; every orphan re-picks on its own; pass: all re-homed, survivors within 10 % of their mean',
  servers: 5,
  serverSessionTimeoutMs: 4_000,
  async run(ctx) {
    const perServer = ctx.fast ? 200 : 1_000;
    const count = perServer * ctx.servers.servers.length;
    ctx.recorder.mark(`${count} independent clients, 1 ms apart`);
    const fleet = ctx.clients({ count, staggerMs: 1, independent: true, ...(ctx.fast ? { concurrentReads: FLEET_FAILOVER_FAST_CONCURRENT_READS } : {}) });
    const r = await fleet.start();
    const before = await settle(ctx);
    const victim = ctx.servers.servers[0]!;
    const orphans = fleet.clients.filter((c) => c.server?.name === victim.id);
    const rehomed = new Set<number>();
    let lastRehomeAt = 0;
    orphans.forEach((c, i) =>
      c.on('connected', (s) => {
        if (s.name === victim.id || rehomed.has(i)) return;
        rehomed.add(i);
        lastRehomeAt = Date.now();
      }),
    );
    const killedAt = Date.now();
    ctx.recorder.mark(`kill -9 ${victim.id}`);
    ctx.servers.signal(victim.index, 'SIGKILL');
    const deadline = killedAt + FLEET_REHOME_TIMEOUT_MS;
    while (rehomed.size < orphans.length && Date.now() < deadline) await new Promise((r2) => setTimeout(r2, 20));
    ctx.recorder.mark(`${rehomed.size} orphans re-homed`);
    const lost = orphans.length - rehomed.size;
    const s = await settle(ctx);
    const landed = fleet.countsByServer();
    const pass = r.failed === 0 && lost === 0 && s.exact && s.spread.servers === 4 && s.spread.relative <= FLEET_FAILOVER_BOUND;
    return {
      pass,
      lines: [
        `before the kill: ${formatSpread(before.spread)}`,
        `${orphans.length} orphans of ${victim.id}; ${rehomed.size} re-homed, the last ${((lastRehomeAt - killedAt) / 1000).toFixed(2)} s after the kill`,
        `survivors: ${formatSpread(s.spread)}`,
        `clients per survivor: ${[...landed.values()].sort((a, b) => a - b).join(' / ')}`,
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: {
        clients: count,
        orphans: orphans.length,
        lost,
        rehomeMs: lastRehomeAt - killedAt,
        beforeRelative: before.spread.relative,
        spread: s.spread.spread,
        relative: s.spread.relative,
        exact: s.exact,
      },
    };
  },
};
