// Starts the shared test ZooKeeper and Redis, runs every suite with node:test, stops them again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connectStringOf, startCluster, stopCluster } from '../src/tools/local-zookeeper.js';
import { browserMissing } from '../test/helpers/browser.js';
import { startRedis, stopRedis } from '../src/tools/local-redis.js';
import { TEST_LAYOUT } from '../test/helpers/zk.js';
import { TEST_REDIS } from '../test/helpers/redis.js';

const SUITES = ['unit', 'integration', 'load', 'faults', 'browser'].map((s) => `dist/test/${s}`);
const args = process.argv.slice(2);
const dirs = (args.length ? args : SUITES).filter((d) => existsSync(d));

let status = 1;
try {
  await startCluster(TEST_LAYOUT, { fresh: true });
  const redis = await startRedis(TEST_REDIS, { fresh: true, log: (s) => console.log(s) });
  const env = { ...process.env, FULCRUM_TEST_ZK: connectStringOf(TEST_LAYOUT), FULCRUM_TEST_REDIS: redis.url };
  // One file at a time: load and fault tests measure timing and kill processes on a 2-core machine.
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...dirs], { stdio: 'inherit', env });
  status = r.status ?? 1;
} finally {
  await stopCluster(TEST_LAYOUT);
  await stopRedis(TEST_REDIS);
}
// Said plainly once at the end, where it is seen: a skipped browser test is not a passed one.
const missing = dirs.some((d) => /(^|\/)browser(\/|$)/.test(d)) ? browserMissing() : undefined;
if (missing) process.stderr.write(`browser tests skipped: ${missing}\n`);
process.exit(status);
