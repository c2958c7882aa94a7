import { rmSync } from 'node:fs';
import { runCli, parseCli, intFlag, zkTarget, UsageError, LOG_OPTIONS, cliLogger, logLevelOf } from './args.js';
import { LOG_LEVELS } from '../../log/logger.js';
import { DEFAULT_STRATEGY } from '../../balancing/index.js';
import { getStrategy, strategyNames } from '../../balancing/strategy-registry.js';
import { runScenario, SCENARIOS, type RunResult } from '../loadtest/run-scenario.js';
import { DEFAULT_ZK_CONNECT } from '../../zk/connect-string.js';
import { ensureZk } from '../local-zookeeper.js';
import { renderBalanceTable } from '../balance-table.js';
import { LiveView } from './live-view.js';
import { DEFAULT_CONCURRENT_READS } from '../runner/client-runner.js';
import { runChaos } from '../loadtest/chaos.js';
import { freePort } from '../local-daemon.js';
import { startRedis, stopRedis, type LocalRedisSpec } from '../local-redis.js';
import { checkRedisUrl } from '../../messaging/history/redis-history.js';

/** The private ZooKeeper `chaos` starts, restarts and stops (never the one of --zk: the run restarts it). */
export const DEFAULT_CHAOS_ZK_PORT = 2381;

const HELP = `
usage: npm run loadtest -- <scenario|all> [options]

Runs a load scenario against real server processes and ZooKeeper, shows a live balance
table, writes an SVG plot of every server's balance over time, and ends with PASS/FAIL.

scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(15)} ${s.description}`).join('\n')}
  all             every scenario above in turn
  chaos           message history under faults: 3 server processes with Redis history, 200 users
                  in rooms, sequenced pushes and room publishes while a server is killed with
                  SIGKILL, a server joins (rebalancing migrates clients), ZooKeeper restarts and a
                  client's connection is cut; pass: every user holds every message exactly once,
                  in order (runs alone: its own ZooKeeper on --zk-port, Redis from --redis or a
                  local one started on a free port)

  --strategy NAME   ${strategyNames().join(', ')} (default ${DEFAULT_STRATEGY})
  --no-pending      do not count unreported picks (plain least herds)
  --pickers N       deal clients over N independent pickers, as if N processes (default 1)
  --concurrent-reads N
                    independent clients of the fleet scenarios reading ZooKeeper at the same
                    moment (default ${DEFAULT_CONCURRENT_READS})
  --fast            the small sizes npm test uses
  --out DIR         where plots go (default loadtest-results)
  --zk HOST:PORT    ZooKeeper (env FULCRUM_ZK; a local one is started if none answers)
  --zk-port P       chaos: port of its private ZooKeeper (default ${DEFAULT_CHAOS_ZK_PORT}; data in .zk/chaos)
  --redis URL       chaos: the Redis to keep history in (env FULCRUM_REDIS; default: a local
                    redis-server started on a free port, data in .redis/chaos, removed afterwards)
  --log-level L     ${LOG_LEVELS.join(', ')} (env FULCRUM_LOG_LEVEL, default warn here, so logs leave the table alone)
  -h, --help        show this help`;

runCli('loadtest', async () => {
  const { values, positionals } = parseCli(
    process.argv.slice(2),
    { ...LOG_OPTIONS, zk: { type: 'string' }, 'zk-port': { type: 'string' }, redis: { type: 'string' }, strategy: { type: 'string' }, 'no-pending': { type: 'boolean' }, pickers: { type: 'string' }, 'concurrent-reads': { type: 'string' }, fast: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    HELP,
    true,
  );
  const names = SCENARIOS.map((s) => s.name);
  if (positionals.length !== 1 || ![...names, 'all', 'chaos'].includes(positionals[0]!)) throw new UsageError(`expected one scenario of ${names.join(', ')}, all or chaos, got ${JSON.stringify(positionals.join(' '))}`);
  if (positionals[0] === 'chaos') return chaos(values);
  for (const flag of ['zk-port', 'redis'] as const) if (values[flag] !== undefined) throw new UsageError(`--${flag} only goes with chaos`);
  if (values.strategy !== undefined) getStrategy(values.strategy);
  const pickers = intFlag(values, 'pickers', 1, 1, 100_000);
  const concurrentReads = intFlag(values, 'concurrent-reads', DEFAULT_CONCURRENT_READS, 1, 100_000);
  const logger = cliLogger('loadtest', values, 'warn');
  const { zk } = zkTarget({ zk: values.zk });
  const stopZk = await ensureZk(zk, DEFAULT_ZK_CONNECT, (s) => console.log(s));
  const chosen = positionals[0] === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === positionals[0]);
  const results: RunResult[] = [];
  try {
    for (const scenario of chosen) {
      console.log(`\n== ${scenario.name}: ${scenario.description}`);
      let view: LiveView | undefined;
      const r = await runScenario(scenario, {
        connect: zk,
        fast: values.fast,
        strategy: values.strategy,
        pending: !values['no-pending'],
        pickers,
        concurrentReads,
        logger,
        logLevel: logLevelOf(values, 'warn'),
        outDir: values.out ?? 'loadtest-results',
        log: (s) => console.log(s),
        onCache: (cache) => {
          view = new LiveView(() => renderBalanceTable(cache.current()));
          cache.on('snapshot', () => view!.invalidate());
        },
      }).finally(() => view?.close());
      for (const line of r.lines) console.log(`  ${line}`);
      if (r.plot) console.log(`  plot: ${r.plot}`);
      console.log(`${r.pass ? 'PASS' : 'FAIL'} ${r.scenario} (strategy ${values.strategy ?? DEFAULT_STRATEGY}${values['no-pending'] ? ', no pending' : ''}${pickers > 1 ? `, ${pickers} pickers` : ''}) in ${(r.durationMs / 1000).toFixed(1)} s`);
      results.push(r);
    }
  } finally {
    await stopZk();
  }
  if (results.length > 1) console.log(`\n${results.filter((r) => r.pass).length}/${results.length} scenarios passed`);
  if (results.some((r) => !r.pass)) process.exitCode = 1;
});

async function chaos(values: { 'zk-port'?: string; redis?: string; fast?: boolean; 'log-level'?: string }): Promise<void> {
  const zkPort = intFlag(values, 'zk-port', DEFAULT_CHAOS_ZK_PORT, 1, 65535);
  let redis = values.redis ?? (process.env.FULCRUM_REDIS || undefined);
  if (redis !== undefined) {
    try {
      checkRedisUrl(redis);
    } catch (e) {
      throw new UsageError(`--redis: ${(e as Error).message}`);
    }
  }
  const logger = cliLogger('loadtest', values, 'warn');
  let local: LocalRedisSpec | undefined;
  if (redis === undefined) {
    local = { dir: '.redis/chaos', port: await freePort() };
    redis = (await startRedis(local, { fresh: true, log: (s) => console.log(s) })).url;
    console.log(`chaos: local Redis ${redis}`);
  }
  console.log(`\n== chaos: message history under faults${values.fast ? ' (fast)' : ''}`);
  const t0 = Date.now();
  try {
    const r = await runChaos({ zk: { dir: '.zk/chaos', size: 1, basePort: zkPort, tickMs: 1_000 }, redis, fast: values.fast ?? false, log: (s) => console.log(`  ${s}`), logger, logLevel: logLevelOf(values, 'warn') });
    console.log('');
    for (const line of r.lines) console.log(`  ${line}`);
    console.log(`${r.pass ? 'PASS' : 'FAIL'} chaos in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (!r.pass) process.exitCode = 1;
  } finally {
    if (local) {
      await stopRedis(local);
      rmSync(local.dir, { recursive: true, force: true });
    }
  }
}
