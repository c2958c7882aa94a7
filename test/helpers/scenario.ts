import { runScenario, SCENARIOS, type RunResult } from '../../src/tools/loadtest/run-scenario.js';
import { testZk } from './zk.js';

/** Runs the named load-test scenario in its fast variant (the sizes meant for `npm test`) against the test ZooKeeper. */
export async function runFastScenario(name: string, strategy?: string): Promise<RunResult> {
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new Error(`no scenario named ${name}`);
  return runScenario(scenario, { connect: await testZk(), fast: true, strategy });
}

/** The scenario's findings, one per line, for assertion messages. */
export function report(r: RunResult): string {
  return r.lines.join('\n');
}
