import { runCli, parseCli, intFlag, lifecycleCommand, UsageError, LOG_OPTIONS } from './args.js';
import { LOG_LEVELS } from '../../log/logger.js';
import {
  connectStringOf,
  nodeSpecs,
  pidAlive,
  readPid,
  serverMode,
  startCluster,
  stopCluster,
  DEFAULT_TICK_MS,
  DEFAULT_ZK_DIR,
  DEFAULT_ZK_PORT,
  type ClusterLayout,
} from '../local-zookeeper.js';

const HELP = `
usage: npm run zk -- start|stop|status [options]

Runs a local ZooKeeper (Debian's zookeeper package; installed with apt-get when missing).

  --ensemble N   run an N-node ensemble on loopback (3, 5 or 7) instead of one standalone server;
                 node i: client port P+i-1, quorum port P+10000+i-1, election port P+11000+i-1
  --port P       client port of the first node (default ${DEFAULT_ZK_PORT})
  --dir D        where data and logs live (default ${DEFAULT_ZK_DIR})
  --tick-ms T    ZooKeeper tickTime (default ${DEFAULT_TICK_MS}); session timeouts are clamped to [2T, 20T]
  --fresh        start from empty data
  --log-level L  ${LOG_LEVELS.join(', ')} (env FULCRUM_LOG_LEVEL, default info)
  -h, --help     show this help`;

runCli('zk', async () => {
  const { values, positionals } = parseCli(
    process.argv.slice(2),
    {
      ...LOG_OPTIONS,
      ensemble: { type: 'string' },
      port: { type: 'string' },
      dir: { type: 'string' },
      'tick-ms': { type: 'string' },
      fresh: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP,
    true,
  );
  const cmd = lifecycleCommand(positionals);
  const size = intFlag(values, 'ensemble', 1, 1, 7);
  if (size !== 1 && size % 2 === 0) throw new UsageError('--ensemble must be odd (1, 3, 5 or 7)');
  const layout: ClusterLayout = {
    dir: values.dir ?? DEFAULT_ZK_DIR,
    size,
    // The quorum and election ports sit 10000 and 11000 above the client ports.
    basePort: intFlag(values, 'port', DEFAULT_ZK_PORT, 1, 65_535 - 11_000 - (size - 1)),
    tickMs: intFlag(values, 'tick-ms', DEFAULT_TICK_MS, 100, 60_000),
  };
  if (cmd === 'start') {
    const handles = await startCluster(layout, { fresh: values.fresh });
    for (const h of handles) console.log(`zookeeper 127.0.0.1:${h.clientPort} pid ${h.pid} (${await serverMode(h.clientPort)}) dir ${h.dir}`);
    console.log(`connect string: ${connectStringOf(layout)}`);
  } else if (cmd === 'stop') {
    const n = await stopCluster(layout);
    console.log(n ? `stopped ${n} zookeeper process(es)` : 'no zookeeper was running');
  } else {
    let up = 0;
    for (const spec of nodeSpecs(layout)) {
      const pid = readPid(spec.dir);
      const mode = await serverMode(spec.clientPort);
      if (mode) up++;
      console.log(`127.0.0.1:${spec.clientPort}  ${mode ?? 'not serving'}${pid && pidAlive(pid) ? `  pid ${pid}` : ''}`);
    }
    process.exitCode = up === layout.size ? 0 : 3;
  }
});
