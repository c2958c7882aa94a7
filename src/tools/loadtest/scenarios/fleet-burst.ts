import { formatSpread } from '../../balance-table.js';
import { preloadServers } from '../preload.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const FLEET_BURST_BOUND = 0.15;
/**
 * The fast variant's 1,000 clients read with the same share in flight as the full 2,000 with 256.
 * Not fewer: with 500, the picks' own randomness alone put the spread near the bound.
 */
export const FAST_CONCURRENT_READS = 128;

export const fleetBurst: Scenario = {
  name: 'fleet-burst',
  description:
    '2,000 independent clients (each its own picker and its own ZooKeeper read, 256 reading at once; fast: 1,000, 128 at once), no stagger, onto servers preloaded 0/25/50/75/100; pass: (max - min) / mean <= 15 %',
  servers: 5,
  async run(ctx) {
    const count = ctx.fast ? 1_000 : 2_000;
    const preload = await preloadServers(ctx, 25);
    await settle(ctx);
    ctx.recorder.mark(`${count} independent clients at once`);
    const fleet = ctx.clients({ count, staggerMs: 0, independent: true, ...(ctx.fast ? { concurrentReads: FAST_CONCURRENT_READS } : {}) });
    const t0 = Date.now();
    const r = await fleet.start();
    const connectedMs = Date.now() - t0;
    const s = await settle(ctx);
    await fleet.stop();
    for (const sock of preload) sock.destroy();
    const pass = r.failed === 0 && s.exact && s.spread.relative <= FLEET_BURST_BOUND;
    return {
      pass,
      lines: [
        `connected ${r.connected}/${count} in ${(connectedMs / 1000).toFixed(2)} s`,
        formatSpread(s.spread),
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: { clients: count, failed: r.failed, connectedMs, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact },
    };
  },
};
