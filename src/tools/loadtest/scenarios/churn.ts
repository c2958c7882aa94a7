import { formatSpread } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const churn: Scenario = {
  name: 'churn',
  description: 'clients connect and disconnect at random; pass: zero drift between ZooKeeper balances and live sockets at the end',
  servers: 5,
  async run(ctx) {
    const base = ctx.fast ? 200 : 500;
    const durationMs = ctx.fast ? 4_000 : 20_000;
    const runner = ctx.clients({ count: base, staggerMs: 0 });
    await runner.start();
    ctx.recorder.mark(`churn for ${durationMs / 1000} s`);
    let ops = 0;
    const end = Date.now() + durationMs;
    // 8 workers; each op connects a new client or disconnects a random live one.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < end) {
          ops++;
          const live = runner.clients.filter((c) => c.isConnected);
          if (live.length > 0 && Math.random() < 0.5) await live[Math.floor(Math.random() * live.length)]!.disconnect();
          else await runner.addClient();
          await new Promise((r) => setTimeout(r, Math.random() * 10));
        }
      }),
    );
    ctx.recorder.mark('quiesce');
    const s = await settle(ctx, 15_000);
    // Accept/close events against balance writes: the writes are coalesced, so far fewer.
    let events = 0;
    let writes = 0;
    for (const srv of ctx.servers.servers) {
      const { stats } = await ctx.servers.stats(srv.index);
      events += stats.events;
      writes += stats.writes;
    }
    const pass = s.exact && s.spread.total === runner.liveClients;
    return {
      pass,
      lines: [`${ops} random connects/disconnects; ${runner.liveClients} clients live at the end`,
        `${events} socket events, ${writes} balance writes`, formatSpread(s.spread), s.exact ? 'zero drift: every node equals its live socket count' : `drift: ${s.drift.join(', ')}`],
      metrics: { ops, events, writes, live: runner.liveClients, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact },
    };
  },
};
