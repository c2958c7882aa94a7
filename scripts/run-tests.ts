// Starts the shared test ZooKeeper, runs every suite with node:test, stops ZooKeeper again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connectStringOf, startCluster, stopCluster } from '../src/tools/local-zookeeper.js';
import { browserMissing } from '../test/helpers/browser.js';
import { TEST_LAYOUT } from '../test/helpers/zk.js';

const SUITES = ['unit', 'integration', 'load', 'faults', 'browser'].map((s) => `dist/test/${s}`);
const args = process.argv.slice(2);
const dirs = (args.length ? args : SUITES).filter((d) => existsSync(d));

await startCluster(TEST_LAYOUT, { fresh: true });
const env = { ...process.env, FULCRUM_TEST_ZK: connectStringOf(TEST_LAYOUT) };
let status = 1;
try {
  // One file at a time: load and fault tests measure timing and kill processes on a 2-core machine.
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...dirs], { stdio: 'inherit', env });
  status = r.status ?? 1;
} finally {
  await stopCluster(TEST_LAYOUT);
}
// Said plainly once at the end, where it is seen: a skipped browser test is not a passed one.
const missing = dirs.some((d) => /(^|\/)browser(\/|$)/.test(d)) ? browserMissing() : undefined;
if (missing) process.stderr.write(`browser tests skipped: ${missing}\n`);
process.exit(status);
