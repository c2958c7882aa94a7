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

const HELP = `
usage: npm run loadtest -- <scenario|all> [options]

Runs a load scenario against real server processes and ZooKeeper, shows a live balance
table, writes an SVG plot of every server's balance over time, and ends with PASS/FAIL.

scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(15)} ${s.description}`).join('\n')}
  all             every scenario in turn

  --strategy NAME   ${strategyNames().join(', ')} (default ${DEFAULT_STRATEGY})
  --no-pending      do not count unreported picks (plain least herds)
  --pickers N       deal clients over N independent pickers, as if N processes (default 1)
  --concurrent-reads N
                    independent clients of the fleet scenarios reading ZooKeeper at the same
                    moment (default ${DEFAULT_CONCURRENT_READS})
  --fast            the small sizes npm test uses
  --out DIR         where plots go (default loadtest-results)
  --zk HOST:PORT    ZooKeeper (env FULCRUM_ZK; a local one is started if none answers)
  --log-level L     ${LOG_LEVELS.join(', ')} (env FULCRUM_LOG_LEVEL, default warn here, so logs leave the table alone)
  -h, --help        show this help`;

runCli('loadtest', async () => {
  const { values, positionals } = parseCli(
    process.argv.slice(2),
    { ...LOG_OPTIONS, zk: { type: 'string' }, strategy: { type: 'string' }, 'no-pending': { type: 'boolean' }, pickers: { type: 'string' }, 'concurrent-reads': { type: 'string' }, fast: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    HELP,
    true,
  );
  const names = SCENARIOS.map((s) => s.name);
  if (positionals.length !== 1 || ![...names, 'all'].includes(positionals[0]!)) throw new UsageError(`expected one scenario of ${names.join(', ')} or all, got ${JSON.stringify(positionals.join(' '))}`);
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
