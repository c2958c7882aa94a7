import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos } from '../../src/tools/loadtest/chaos.js';
import type { ClusterLayout } from '../../src/tools/local-zookeeper.js';
import { captureLogger } from '../helpers/log-capture.js';
import { measured } from '../helpers/fault-util.js';
import { testRedis } from '../helpers/redis.js';
import { TEST_LAYOUT } from '../helpers/zk.js';

/** A private ZooKeeper of its own: the run restarts it. */
const LAYOUT: ClusterLayout = { dir: '.zk/faults-chaos', size: 1, basePort: TEST_LAYOUT.basePort + 16, tickMs: 1_000 };

test('history chaos - 3 server processes with Redis history, 200 users in rooms: SIGKILL, a server joining, a ZooKeeper restart and a cut connection lose nothing; every user holds every message once, in order', async () => {
  const { logger } = captureLogger();
  const r = await runChaos({ zk: LAYOUT, redis: await testRedis(), fast: true, log: () => {}, logger, logLevel: 'error' });
  for (const line of r.lines) console.log(`# ${line}`);
  measured('history chaos: duplicates dropped by the clients', r.metrics.duplicates!, '');
  measured('history chaos: messages replayed from Redis', r.metrics.replayed!, '');
  assert.ok(r.metrics.pushes! > 1_000 && r.metrics.publishes! > 100, r.lines.join('\n'));
  assert.ok(r.metrics.rehomes! > 0 && r.metrics.migrations! > 0, `the faults moved clients: ${r.lines.join('\n')}`);
  assert.equal(r.metrics.failures, 0, r.lines.join('\n'));
  assert.equal(r.metrics.wrong, 0, r.lines.join('\n'));
  assert.ok(r.pass, r.lines.join('\n'));
});
