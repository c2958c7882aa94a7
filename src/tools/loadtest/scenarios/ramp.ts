import { formatSpread } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const ramp: Scenario = {
  name: 'ramp',
  description: 'clients started 10 ms apart (the seed scenario); pass: final spread <= 1 and exact balances',
  servers: 5,
  async run(ctx) {
    const count = ctx.fast ? 200 : 500;
    ctx.recorder.mark(`${count} clients, 10 ms apart`);
    const r = await ctx.clients({ count, staggerMs: 10 }).start();
    const s = await settle(ctx);
    const pass = r.failed === 0 && s.exact && s.spread.spread <= 1;
    return {
      pass,
      lines: [`connected ${r.connected}/${count}`, formatSpread(s.spread), s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`],
      metrics: { clients: count, failed: r.failed, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact },
    };
  },
};
