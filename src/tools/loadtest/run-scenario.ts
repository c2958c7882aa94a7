import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServerCache } from '../../discovery/server-cache.js';
import { ClientRunner, type ClientRunnerOptions } from '../runner/client-runner.js';
import { ServerRunner } from '../runner/server-runner.js';
import { connectZk } from '../../zk/connect.js';
import { deleteTree, mkdirp } from '../../zk/paths.js';
import { ZkSession } from '../../zk/session.js';
import { NativeZkClient } from '../../zk/zk-client.js';
import { BalanceRecorder } from './balance-recorder.js';
import type { Scenario, ScenarioResult } from './scenario.js';
import { renderBalancePlot } from './svg-plot.js';
import { defaultLogger, type Logger, type LogLevel } from '../../log/logger.js';
import { burst } from './scenarios/burst.js';
import { churn } from './scenarios/churn.js';
import { failover } from './scenarios/failover.js';
import { fleetBurst } from './scenarios/fleet-burst.js';
import { fleetFailover } from './scenarios/fleet-failover.js';
import { ramp } from './scenarios/ramp.js';
import { scaleOut } from './scenarios/scale-out.js';
import { rebalance } from './scenarios/rebalance.js';

export const SCENARIOS: readonly Scenario[] = [ramp, burst, failover, scaleOut, churn, fleetBurst, fleetFailover, rebalance];

export interface RunOptions {
  connect: string;
  fast?: boolean;
  strategy?: string;
  pending?: boolean;
  pickers?: number;
  /** Independent clients reading at the same moment (fleet scenarios). @default DEFAULT_CONCURRENT_READS */
  concurrentReads?: number;
  /** Directory for the SVG plot; none written when absent. */
  outDir?: string;
  log?: (line: string) => void;
  /** Where errors of the servers, clients and cache are logged. @default defaultLogger() */
  logger?: Logger;
  /** Log level of the server processes. @default FULCRUM_LOG_LEVEL or 'info' */
  logLevel?: LogLevel;
  /** Called with the cache once it runs (e.g. to drive a live table). */
  onCache?: (cache: ServerCache) => void;
}

export interface RunResult extends ScenarioResult {
  scenario: string;
  strategy: string;
  plot?: string;
  durationMs: number;
}

/** Runs one scenario against real server processes under a throw-away root, and cleans up. */
export async function runScenario(scenario: Scenario, opts: RunOptions): Promise<RunResult> {
  const log = opts.log ?? (() => {});
  const base = `/fulcrum-loadtest/${scenario.name}-${randomBytes(3).toString('hex')}`;
  const root = `${base}/servers`;
  const admin = NativeZkClient.of(await connectZk({ connect: opts.connect }));
  await mkdirp(admin, root);
  const session = new ZkSession({ connect: opts.connect });
  const logger = opts.logger ?? defaultLogger();
  const servers = new ServerRunner({ count: scenario.servers, zk: opts.connect, root, host: '127.0.0.1', sessionTimeoutMs: scenario.serverSessionTimeoutMs, logger, logLevel: opts.logLevel, rebalance: scenario.rebalance });
  const cache = new ServerCache({ session, root });
  cache.on('error', (e) => logger.warn({ err: e, code: (e as { code?: string }).code }, `server cache: ${e.message}`));
  const recorder = new BalanceRecorder(cache);
  const runners: ClientRunner[] = [];
  const t0 = Date.now();
  try {
    await session.start();
    await cache.start();
    opts.onCache?.(cache);
    recorder.start();
    await servers.start();
    log(`${scenario.name}: ${scenario.servers} server processes up`);
    const result = await scenario.run({
      connect: opts.connect,
      root,
      session,
      cache,
      servers,
      recorder,
      fast: opts.fast ?? false,
      log,
      clients: (o) => {
        const full: ClientRunnerOptions = { session, root, strategy: opts.strategy, pending: opts.pending, pickers: opts.pickers, concurrentReads: opts.concurrentReads, logger, ...o };
        const r = new ClientRunner(full);
        runners.push(r);
        return r;
      },
    });
    recorder.stop();
    const strategy = opts.strategy ?? 'default';
    let plot: string | undefined;
    if (opts.outDir) {
      mkdirSync(opts.outDir, { recursive: true });
      plot = join(opts.outDir, `${scenario.name}-${strategy}.svg`);
      writeFileSync(plot, renderBalancePlot(recorder.samples, recorder.marks, `fulcrum loadtest · ${scenario.name} · strategy ${strategy}`));
    }
    return { ...result, scenario: scenario.name, strategy, plot, durationMs: Date.now() - t0 };
  } finally {
    recorder.stop();
    await Promise.all(runners.map((r) => r.stop()));
    await servers.stop();
    cache.close();
    session.close();
    await deleteTree(admin, base).catch(() => {});
    admin.close();
  }
}
