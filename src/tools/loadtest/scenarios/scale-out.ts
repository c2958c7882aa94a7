import { formatSpread, spreadOf } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const scaleOut: Scenario = {
  name: 'scale-out',
  description: 'add a 6th server to 5 loaded ones; new clients fill it first; reports the time until spread <= 10 %',
  servers: 5,
  async run(ctx) {
    const base = ctx.fast ? 500 : 1_000;
    const extra = ctx.fast ? 200 : 400;
    ctx.recorder.mark(`${base} clients`);
    const r1 = await ctx.clients({ count: base, staggerMs: 0 }).start();
    await settle(ctx);
    const added = await ctx.servers.add();
    const addedAt = Date.now();
    ctx.recorder.mark(`6th server ${added.id}`);
    let evenAt: number | undefined;
    const watch = () => {
      const sp = spreadOf(ctx.cache.current().servers.map((s) => s.balance));
      if (evenAt === undefined && sp.servers === 6 && sp.relative <= 0.1) evenAt = Date.now();
    };
    ctx.cache.on('snapshot', watch);
    // Wait for our own cache to see the new server before the next clients pick.
    while (!ctx.cache.current().servers.some((s) => s.name === added.id)) await new Promise((r) => setTimeout(r, 10));
    ctx.recorder.mark(`${extra} new clients, 5 ms apart`);
    const more = ctx.clients({ count: extra, staggerMs: 5 });
    const firstPicks: string[] = [];
    more.on('connected', (_i, s) => firstPicks.length < 100 && firstPicks.push(s.name));
    const r2 = await more.start();
    const s = await settle(ctx);
    watch();
    ctx.cache.off('snapshot', watch);
    const toNew = firstPicks.filter((n) => n === added.id).length;
    const fillShare = toNew / Math.max(1, firstPicks.length);
    const pass = r1.failed + r2.failed === 0 && s.exact && fillShare >= 0.9 && evenAt !== undefined;
    return {
      pass,
      lines: [
        `${toNew} of the first ${firstPicks.length} new clients went to the new server`,
        evenAt !== undefined ? `spread <= 10 % ${((evenAt - addedAt) / 1000).toFixed(2)} s after the 6th server registered` : 'spread never got within 10 %',
        formatSpread(s.spread),
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: { clients: base + extra, fillShare, evenMs: evenAt === undefined ? -1 : evenAt - addedAt, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact },
    };
  },
};
