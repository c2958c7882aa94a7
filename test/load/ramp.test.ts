import { test } from 'node:test';
import assert from 'node:assert/strict';
import { report, runFastScenario } from '../helpers/scenario.js';

test('load - ramp: staggered clients over 5 server processes end with spread <= 1 and exact balances', async () => {
  const r = await runFastScenario('ramp');
  assert.equal(r.metrics.failed, 0, report(r));
  assert.equal(r.metrics.exact, true, `every node equals its server's live socket count: ${report(r)}`);
  assert.ok((r.metrics.spread as number) <= 1, report(r));
  assert.ok(r.pass, report(r));
});

test('load - ramp with p2c still reaches an exact, near-even spread', async () => {
  const r = await runFastScenario('ramp', 'p2c');
  assert.equal(r.metrics.failed, 0, report(r));
  assert.equal(r.metrics.exact, true, report(r));
  assert.ok((r.metrics.spread as number) <= 5, report(r));
});
