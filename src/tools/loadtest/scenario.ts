import type { ServerCache } from '../../discovery/server-cache.js';
import type { ClientRunner, ClientRunnerOptions } from '../runner/client-runner.js';
import type { ServerRunner } from '../runner/server-runner.js';
import type { ZkSession } from '../../zk/session.js';
import type { BalanceRecorder } from './balance-recorder.js';
import type { RebalancerOptions } from '../../server/rebalancer.js';

export interface ScenarioContext {
  connect: string;
  root: string;
  session: ZkSession;
  cache: ServerCache;
  servers: ServerRunner;
  recorder: BalanceRecorder;
  /** Small sizes for `npm test`; full sizes for `npm run loadtest`. */
  fast: boolean;
  log: (line: string) => void;
  /** A ClientRunner with the run's strategy/pending/pickers settings, stopped at the end of the run. */
  clients: (opts: Pick<ClientRunnerOptions, 'count' | 'staggerMs'> & Partial<ClientRunnerOptions>) => ClientRunner;
}

export interface ScenarioResult {
  pass: boolean;
  /** Human-readable findings, one per line. */
  lines: string[];
  /** Numbers for tables and assertions. */
  metrics: Record<string, number | string | boolean>;
}

export interface Scenario {
  name: string;
  description: string;
  /** Servers started before `run`. */
  servers: number;
  /** Session timeout for the server processes (crash detection speed). */
  serverSessionTimeoutMs?: number;
  /** Server-side rebalancing for the server processes. @default off */
  rebalance?: boolean | RebalancerOptions;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
