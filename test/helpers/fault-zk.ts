import type { ClusterLayout } from '../../src/tools/local-zookeeper.js';
import { isServing, nodeSpecs } from '../../src/tools/local-zookeeper.js';
import { TEST_LAYOUT } from './zk.js';

/**
 * A private standalone ZooKeeper (port 2291 by default) for tests that stop and restart it. Never the shared test
 * ZooKeeper on 2281 (other test files use that one).
 */
export const RESTART_LAYOUT: ClusterLayout = { dir: '.zk/faults', size: 1, basePort: TEST_LAYOUT.basePort + 10, tickMs: 1_000 };

/**
 * A test-only 3-node ensemble: client ports 2301-2303, quorum 12301-12303, election 13301-13303
 * (with the default test port 2281; both move with FULCRUM_TEST_ZK_PORT).
 */
export const ENSEMBLE_LAYOUT: ClusterLayout = { dir: '.zk/faults-ensemble', size: 3, basePort: TEST_LAYOUT.basePort + 20, tickMs: 1_000 };

/** Resolves once no node of the layout answers srvr any more (the JVMs are gone or not serving). */
export async function allDown(layout: ClusterLayout): Promise<boolean> {
  const up = await Promise.all(nodeSpecs(layout).map((s) => isServing(s.clientPort)));
  return up.every((u) => !u);
}
