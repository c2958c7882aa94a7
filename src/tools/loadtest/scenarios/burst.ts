import { formatSpread } from '../../balance-table.js';
import { preloadServers } from '../preload.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const BURST_BOUND = 0.1;

export const burst: Scenario = {
  name: 'burst',
  description:
    '2,000 clients with no stagger onto servers already carrying an uneven load (0/25/50/75/100); pass: (max - min) / mean <= 10 %; then plain least (no pending picks) for comparison',
  servers: 5,
  async run(ctx) {
    const count = 2_000;
    const preload = await preloadServers(ctx, 25);
    await settle(ctx);
    ctx.recorder.mark(`${count} clients at once`);
    const main = ctx.clients({ count, staggerMs: 0 });
    const r = await main.start();
    const s = await settle(ctx);
    await main.stop();
    await settle(ctx);
    // Plain least: every client takes the global minimum of the same picture, counting nothing.
    ctx.recorder.mark('plain least, no pending picks');
    const seed = ctx.clients({ count, staggerMs: 0, strategy: 'least', pending: false });
    await seed.start();
    const herd = await settle(ctx);
    await seed.stop();
    for (const sock of preload) sock.destroy();
    const pass = r.failed === 0 && s.exact && s.spread.relative <= BURST_BOUND;
    return {
      pass,
      lines: [
        `connected ${r.connected}/${count}`,
        `this run: ${formatSpread(s.spread)}`,
        `plain least (no pending picks): ${formatSpread(herd.spread)}`,
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: { clients: count, failed: r.failed, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact, seedSpread: herd.spread.spread, seedRelative: herd.spread.relative },
    };
  },
};
