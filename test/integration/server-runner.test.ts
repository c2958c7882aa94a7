import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_SERVER_NODE_FLAGS } from '../../src/tools/runner/server-runner.js';
import { withRunner } from '../helpers/runner-fixture.js';

const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

test('server runner - server processes start with the default Node flags (a capped young generation)', () =>
  withRunner({ label: 'runner-flags', servers: { count: 1 } }, async ({ runner }) => {
    const argv = argvOf(runner.servers[0]!.pid);
    for (const flag of DEFAULT_SERVER_NODE_FLAGS) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
  }));

test('server runner - execArgv replaces the default Node flags', () =>
  withRunner({ label: 'runner-flags', servers: { count: 1, execArgv: ['--max-old-space-size=256'] } }, async ({ runner }) => {
    const argv = argvOf(runner.servers[0]!.pid);
    assert.ok(argv.includes('--max-old-space-size=256'));
    for (const flag of DEFAULT_SERVER_NODE_FLAGS) assert.ok(!argv.includes(flag), `${flag} not in ${argv.join(' ')}`);
  }));
