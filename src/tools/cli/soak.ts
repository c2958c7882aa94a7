import { randomBytes, randomInt } from 'node:crypto';
import { runCli, parseCli, intFlag, zkTarget, ZK_OPTIONS, ZK_HELP, UsageError, cliLogger, logLevelOf } from './args.js';
import { DEFAULT_ZK_CONNECT } from '../../zk/connect-string.js';
import { deleteTree } from '../../zk/paths.js';
import { ZkSession } from '../../zk/session.js';
import { ensureZk } from '../local-zookeeper.js';
import { DEFAULT_SOAK_SESSION_TIMEOUT_MS, runSoak } from '../soak/run-soak.js';
import { formatSoakReport } from '../soak/soak-report.js';

const HELP = `
usage: npm run soak -- [--minutes N | --seconds S] [options]

Runs messaging servers, watching caches, churning clients and logged-in users, each group in its
own processes, all reaching ZooKeeper through a fault proxy that cuts connections, black-holes
them (some past the ${DEFAULT_SOAK_SESSION_TIMEOUT_MS} ms session timeout) and pauses processes (SIGSTOP/SIGCONT), while
pushes with acks go to random users. Then it checks: no process aborted (every exit code and
signal), every balance in ZooKeeper equals its server's live sockets, every cache shows what
ZooKeeper holds, and every acked push reached its user's client. Exit 0 on PASS, 1 on FAIL.

  --minutes N           how long the faults and the traffic run (default 5)
  --seconds S           the same in seconds (10-86400), for short runs
  --seed N              replays a run's fault schedule and traffic (default: random, printed)
  --servers N           messaging server processes (default 3)
  --watchers N          processes of watching caches (default 2)
  --caches N            caches (each its own ZooKeeper session) per watcher process (default 12)
  --churners N          processes of churning clients (default 2)
  --churn-clients N     client slots per churner, each connected or not at random (default 100)
  --users N             logged-in users (one process; default 200)
  --pushes-per-second N pushes to random users (default 50)
  --fault-gap-ms MS     mean quiet time between two faults (default 1500)
${ZK_HELP}
The root defaults to a fresh /fulcrum-soak/<random>/servers, deleted afterwards. Processes log at error
unless --log-level or FULCRUM_LOG_LEVEL says otherwise.`;

runCli('soak', async () => {
  const { values } = parseCli(
    process.argv.slice(2),
    {
      ...ZK_OPTIONS,
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      servers: { type: 'string' },
      watchers: { type: 'string' },
      caches: { type: 'string' },
      churners: { type: 'string' },
      'churn-clients': { type: 'string' },
      users: { type: 'string' },
      'pushes-per-second': { type: 'string' },
      'fault-gap-ms': { type: 'string' },
    },
    HELP,
  );
  if (values.minutes !== undefined && values.seconds !== undefined) throw new UsageError('give --minutes or --seconds, not both');
  const seconds = values.seconds !== undefined ? intFlag(values, 'seconds', undefined, 10, 86_400) : intFlag(values, 'minutes', 5, 1, 1_440) * 60;
  const seed = intFlag(values, 'seed', randomInt(1, 2 ** 31), 0, 2 ** 32 - 1);
  const sizes = {
    servers: intFlag(values, 'servers', 3, 1, 10),
    watchers: intFlag(values, 'watchers', 2, 0, 8),
    caches: intFlag(values, 'caches', 12, 1, 64),
    churners: intFlag(values, 'churners', 2, 0, 8),
    churnClients: intFlag(values, 'churn-clients', 100, 1, 2_000),
    users: intFlag(values, 'users', 200, 0, 5_000),
    pushesPerSecond: intFlag(values, 'pushes-per-second', 50, 1, 1_000),
    faultGapMs: intFlag(values, 'fault-gap-ms', 1_500, 100, 60_000),
  };
  const given = values.root !== undefined || process.env.FULCRUM_ROOT !== undefined;
  const base = `/fulcrum-soak/${randomBytes(4).toString('hex')}`;
  const { zk, root } = zkTarget({ zk: values.zk, root: given ? values.root : `${base}/servers` });
  const logLevel = logLevelOf(values, 'error');
  const logger = cliLogger('soak', values, 'error');
  const t0 = Date.now();
  const progress = (s: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${s}`);
  const stopZk = await ensureZk(zk, DEFAULT_ZK_CONNECT, progress);
  try {
    progress(`soak for ${seconds} s, seed ${seed}, ZooKeeper ${zk}, root ${root}`);
    const report = await runSoak({ zk, root, durationMs: seconds * 1000, seed, ...sizes, logLevel, logger, progress });
    for (const line of formatSoakReport(report)) console.log(line);
    if (!report.passed) process.exitCode = 1;
  } finally {
    if (!given) {
      const admin = new ZkSession({ connect: zk, connectTimeoutMs: 10_000 });
      await admin
        .startClient()
        .then((c) => deleteTree(c, base))
        .catch((e: Error) => logger.warn({ err: e }, `could not delete ${base}: ${e.message}`));
      admin.close();
    }
    await stopZk();
  }
});
