import { formatSpread } from '../../balance-table.js';
import type { Scenario } from '../scenario.js';
import { settle } from '../settle.js';

export const REHOME_BOUND_MS = 2_000;

export const failover: Scenario = {
  name: 'failover',
  description: 'kill -9 one of 5 loaded servers; pass: every orphan reconnected within 2 s after its node disappears, spread over survivors <= 10 %',
  servers: 5,
  serverSessionTimeoutMs: 4_000,
  async run(ctx) {
    const count = ctx.fast ? 500 : 2_000;
    ctx.recorder.mark(`${count} clients`);
    const runner = ctx.clients({ count, staggerMs: 0 });
    const r = await runner.start();
    await settle(ctx);
    const victim = ctx.servers.servers[0]!;
    const orphans = runner.clients.filter((c) => c.server?.name === victim.id);
    const rehomedAt = new Map<number, number>();
    orphans.forEach((c, i) => c.on('connected', (s) => s.name !== victim.id && !rehomedAt.has(i) && rehomedAt.set(i, Date.now())));
    const removed = new Promise<number>((resolve) => {
      const on = (info: { name: string }) => {
        if (info.name !== victim.id) return;
        ctx.cache.off('removed', on);
        resolve(Date.now());
      };
      ctx.cache.on('removed', on);
    });
    const killedAt = Date.now();
    ctx.recorder.mark(`kill -9 ${victim.id}`);
    ctx.servers.signal(victim.index, 'SIGKILL');
    const nodeGoneAt = await Promise.race([removed, new Promise<number>((r2) => setTimeout(() => r2(NaN), 30_000))]);
    ctx.recorder.mark('node removed');
    // Give the stragglers the full bound after the node disappeared.
    const deadline = (Number.isNaN(nodeGoneAt) ? Date.now() : nodeGoneAt) + REHOME_BOUND_MS;
    while (rehomedAt.size < orphans.length && Date.now() < deadline) await new Promise((r2) => setTimeout(r2, 20));
    const late = orphans.length - [...rehomedAt.values()].filter((t) => t <= deadline).length;
    const lastRehome = Math.max(killedAt, ...rehomedAt.values());
    const s = await settle(ctx);
    const pass = r.failed === 0 && !Number.isNaN(nodeGoneAt) && late === 0 && s.exact && s.spread.relative <= 0.1;
    return {
      pass,
      lines: [
        `${orphans.length} orphans of ${victim.id}; node removed ${((nodeGoneAt - killedAt) / 1000).toFixed(2)} s after the kill`,
        `all orphans re-homed ${((lastRehome - killedAt) / 1000).toFixed(2)} s after the kill (${late} late)`,
        `survivors: ${formatSpread(s.spread)}`,
        s.exact ? 'every node equals its live socket count' : `drift: ${s.drift.join(', ')}`,
      ],
      metrics: { clients: count, orphans: orphans.length, late, nodeGoneMs: nodeGoneAt - killedAt, rehomeMs: lastRehome - killedAt, spread: s.spread.spread, relative: s.spread.relative, exact: s.exact },
    };
  },
};
