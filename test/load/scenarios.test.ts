import { test } from 'node:test';
import assert from 'node:assert/strict';
import { report, runFastScenario as run } from '../helpers/scenario.js';

test('loadtest - burst: 2,000 clients at once stay within 10 % with the default strategy while plain least without pending picks herds', async () => {
  const r = await run('burst');
  assert.equal(r.metrics.exact, true, r.lines.join('\n'));
  assert.ok((r.metrics.relative as number) <= 0.1, r.lines.join('\n'));
  assert.ok((r.metrics.seedRelative as number) > 1, `plain least without pending picks should herd: ${r.lines.join('\n')}`);
  assert.ok(r.pass);
});

test('loadtest - failover: orphans of a kill -9 re-home within 2 s of the node disappearing, survivors even', async () => {
  const r = await run('failover');
  assert.ok((r.metrics.orphans as number) > 0, r.lines.join('\n'));
  assert.equal(r.metrics.late, 0, r.lines.join('\n'));
  assert.ok((r.metrics.relative as number) <= 0.1, r.lines.join('\n'));
  assert.ok(r.pass, r.lines.join('\n'));
});

test('loadtest - scale-out: new clients fill the new server first', async () => {
  const r = await run('scale-out');
  assert.ok((r.metrics.fillShare as number) >= 0.9, r.lines.join('\n'));
  assert.ok((r.metrics.evenMs as number) >= 0, r.lines.join('\n'));
  assert.ok(r.pass, r.lines.join('\n'));
});

test('loadtest - rebalance: a 5th server joining 4 loaded ones is filled by migrations, no client lost, moves within 1.2 x ideal', async () => {
  const r = await run('rebalance');
  assert.ok((r.metrics.ideal as number) > 0, report(r));
  assert.ok((r.metrics.evenMs as number) >= 0, report(r));
  assert.equal(r.metrics.lost, 0, report(r));
  assert.equal(r.metrics.drops, 0, report(r));
  assert.ok((r.metrics.moves as number) <= 1.2 * (r.metrics.ideal as number), report(r));
  assert.ok((r.metrics.relative as number) <= 0.1, report(r));
  assert.ok(r.pass, report(r));
});

test('loadtest - fleet-burst: independent clients, each reading and picking on its own, stay within 15 % with the default strategy', async () => {
  const r = await run('fleet-burst');
  assert.equal(r.metrics.failed, 0, report(r));
  assert.equal(r.metrics.exact, true, report(r));
  assert.ok((r.metrics.relative as number) <= 0.15, report(r));
  assert.ok(r.pass, report(r));
});

test('loadtest - fleet-failover: every orphan of a kill -9 re-picks on its own and the survivors end within 10 %', async () => {
  const r = await run('fleet-failover');
  assert.ok((r.metrics.orphans as number) > 0, report(r));
  assert.equal(r.metrics.lost, 0, report(r));
  assert.ok((r.metrics.relative as number) <= 0.1, report(r));
  assert.ok(r.pass, report(r));
});
