import { test } from 'node:test';
import assert from 'node:assert/strict';
import { report, runFastScenario } from '../helpers/scenario.js';

test('load - churn: random connects and disconnects leave zero drift, with coalesced writes', async () => {
  const r = await runFastScenario('churn');
  assert.equal(r.metrics.exact, true, `every node equals its server's live socket count: ${report(r)}`);
  assert.ok(r.pass, report(r));
  const events = r.metrics.events as number;
  assert.ok(events >= (r.metrics.ops as number), `every op is a socket event: ${report(r)}`);
  assert.ok((r.metrics.writes as number) < events, `writes < events: ${report(r)}`);
});
