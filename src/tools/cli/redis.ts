import { runCli, parseCli, intFlag, lifecycleCommand, UsageError, LOG_OPTIONS } from './args.js';
import { LOG_LEVELS } from '../../log/logger.js';
import { DEFAULT_REDIS_DIR, DEFAULT_REDIS_PORT, isRedisServing, runningRedisPid, startRedis, stopRedis, type LocalRedisSpec } from '../local-redis.js';
import { resolve } from 'node:path';

const HELP = `
usage: npm run redis -- start|stop|status [options]

Runs a local Redis (Debian's redis-server package; installed with apt-get when missing) on
127.0.0.1 only, protected mode on; append-only file fsynced every second, no RDB snapshots.

  --port P       port (default ${DEFAULT_REDIS_PORT})
  --dir D        where config, data, pid file and log live (default ${DEFAULT_REDIS_DIR})
  --fresh        start from empty data
  --log-level L  ${LOG_LEVELS.join(', ')} (env FULCRUM_LOG_LEVEL, default info)
  -h, --help     show this help`;

runCli('redis', async () => {
  const { values, positionals } = parseCli(
    process.argv.slice(2),
    {
      ...LOG_OPTIONS,
      port: { type: 'string' },
      dir: { type: 'string' },
      fresh: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP,
    true,
  );
  const cmd = lifecycleCommand(positionals);
  if (values.dir === '') throw new UsageError('--dir must not be empty');
  const spec: LocalRedisSpec = { dir: values.dir ?? DEFAULT_REDIS_DIR, port: intFlag(values, 'port', DEFAULT_REDIS_PORT, 1, 65_535) };
  if (cmd === 'start') {
    const h = await startRedis(spec, { fresh: values.fresh, log: (s) => console.log(s) });
    console.log(`redis 127.0.0.1:${h.port} pid ${h.pid} dir ${h.dir}`);
    console.log(`url: ${h.url}`);
  } else if (cmd === 'stop') {
    console.log((await stopRedis(spec)) ? 'stopped redis' : 'no redis was running');
  } else {
    const pid = runningRedisPid(spec);
    const up = await isRedisServing(spec.port);
    console.log(`127.0.0.1:${spec.port}  ${up ? 'serving' : 'not serving'}${pid ? `  pid ${pid}` : ''}  dir ${resolve(spec.dir)}`);
    process.exitCode = up ? 0 : 3;
  }
});
