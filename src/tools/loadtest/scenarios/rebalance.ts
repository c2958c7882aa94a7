import { formatSpread, spreadOf } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

/** The spread must be within 10 % of the mean this long after the new server registered. */
export const REBALANCE_BOUND_MS = 30_000;
/** Moves allowed, as a multiple of the ideal number. */
export const REBALANCE_MOVE_FACTOR = 1.2;

export const rebalance: Scenario = {
  name: 'rebalance',
  description: '4 servers hold 2,000 idle clients, add a 5th; pass: spread <= 10 % within 30 s, no client lost, moves <= 1.2 x ideal',
  servers: 4,
  rebalance: true, // the defaults `npm run servers` uses
  async run(ctx) {
    const count = ctx.fast ? 400 : 2_000;
    const quietMs = ctx.fast ? 2_000 : 5_000;
    ctx.recorder.mark(`${count} idle clients`);
    const runner = ctx.clients({ count, staggerMs: 0 });
    const r = await runner.start();
    const before = await settle(ctx);
    const added = await ctx.servers.add();
    const addedAt = Date.now();
    ctx.recorder.mark(`5th server ${added.id}`);
    const n = before.spread.servers + 1;
    const mean = before.spread.total / n;
    // Ideal: the fewest moves that even the cluster out, i.e. what the old servers hold above the mean.
    const ideal = Math.round(ctx.cache.current().servers.filter((s) => s.name !== added.id).reduce((sum, s) => sum + Math.max(0, s.balance - mean), 0));
    let evenAt: number | undefined;
    let firstMoveAt: number | undefined;
    runner.on('migrated', () => (firstMoveAt ??= Date.now()));
    const deadline = addedAt + REBALANCE_BOUND_MS;
    while (Date.now() < deadline) {
      const servers = ctx.cache.current().servers;
      const sp = spreadOf(servers.map((s) => s.balance));
      if (sp.servers === n && sp.relative <= 0.1 && servers.some((s) => s.name === added.id)) {
        evenAt = Date.now();
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    if (evenAt !== undefined) ctx.recorder.mark('spread <= 10 %');
    // Keep watching: a rebalancer that thrashes keeps moving after the spread is good.
    await new Promise((res) => setTimeout(res, quietMs));
    const movesAtEven = runner.migrations;
    const s = await settle(ctx);
    const asked = { frames: 0, closes: 0, stayed: 0 };
    for (const srv of ctx.servers.servers) {
      const rb = (await ctx.servers.stats(srv.index)).stats.rebalance;
      asked.frames += (rb?.asked ?? 0) - (rb?.closed ?? 0);
      asked.closes += rb?.closed ?? 0;
      asked.stayed += rb?.stayed ?? 0;
    }
    const lost = count - runner.liveClients;
    const moves = runner.migrations;
    const evenMs = evenAt === undefined ? -1 : evenAt - addedAt;
    const pass = r.failed === 0 && evenAt !== undefined && lost === 0 && runner.drops === 0 && moves <= REBALANCE_MOVE_FACTOR * ideal && s.exact && s.spread.relative <= 0.1;
    return {
      pass,
      lines: [
        `${count} clients on 4 servers, then ${added.id} joined; ideal moves ${ideal}`,
        evenAt !== undefined ? `spread <= 10 % ${(evenMs / 1000).toFixed(2)} s after the 5th server registered (first move at ${(((firstMoveAt ?? addedAt) - addedAt) / 1000).toFixed(2)} s)` : `spread not within 10 % after ${REBALANCE_BOUND_MS / 1000} s`,
        `moves ${moves} (${ideal > 0 ? ((moves / ideal) * 100).toFixed(0) : '-'} % of ideal; ${movesAtEven} when even, ${moves - movesAtEven} in the ${quietMs / 1000} s after); migrate frames ${asked.frames}, graceful closes ${asked.closes}, stayed ${asked.stayed}`,
        `clients lost ${lost}, connections dropped under a client ${runner.drops}`,
        formatSpread(s.spread),
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: { clients: count, ideal, moves, movesAtEven, evenMs, lost, drops: runner.drops, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact, frames: asked.frames },
    };
  },
};
