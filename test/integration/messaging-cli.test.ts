import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import { FulcrumError, LoginError } from '../../src/errors.js';
import { Router } from '../../src/messaging/router.js';
import { issueToken } from '../../src/messaging/token.js';
import { ZkSession } from '../../src/zk/session.js';
import { lines, runCliCommand, startCli, type CliResult } from '../helpers/cli.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

function assertOneLineExit(r: CliResult, pattern: RegExp): void {
  const detail = `code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 2, detail);
  assert.equal(lines(r.stderr).length, 1, detail);
  assert.match(r.stderr, pattern, detail);
}

test('messaging cli - servers refuses an unreadable or empty --secret-file, a non-loopback gateway without a secret and out-of-range connection limits, in one line', async () => {
  const zk = await testZk();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-secret-'));
  try {
    assertOneLineExit(await runCliCommand('servers', ['--zk', zk, '--count', '1', '--secret-file', join(dir, 'missing')]), /--secret-file: cannot read .*ENOENT/);
    writeFileSync(join(dir, 'empty'), '\n');
    assertOneLineExit(await runCliCommand('servers', ['--zk', zk, '--count', '1', '--secret-file', join(dir, 'empty')]), /--secret-file: .* is empty/);
    assertOneLineExit(await runCliCommand('servers', ['--zk', zk, '--count', '1', '--gateway-host', '0.0.0.0'], { env: { FULCRUM_SECRET: undefined } }), /--gateway-host .* needs a secret/);
    assertOneLineExit(await runCliCommand('servers', ['--zk', zk, '--count', '1', '--routes', 'some']), /--routes must be watched or on-demand, got "some"/);
    for (const [flag, value] of [['--max-queued-bytes', '10'], ['--max-rooms', '0'], ['--max-frames-per-second', '0'], ['--max-bytes-per-second', '1000'], ['--welcome-timeout-ms', 'soon']]) {
      assertOneLineExit(await runCliCommand('servers', ['--zk', zk, '--count', '1', flag!, value!]), new RegExp(`${flag} must be an integer between \\d+ and \\d+, got "${value}"`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('messaging cli - servers --secret-file: token logins and authenticated pushes work, a login without a token is refused, --max-rooms applies, SIGTERM stops cleanly', async () => {
  const connect = await testZk();
  const zk = await rawZk(connect);
  const { root, cleanup } = await freshRoot(zk, 'msg-cli');
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-secret-'));
  const secret = 'cli-secret-4f1c';
  writeFileSync(join(dir, 'secret'), `${secret}\n`);
  const cli = startCli('servers', ['--zk', connect, '--root', root, '--count', '2', '--secret-file', join(dir, 'secret'), '--max-rooms', '1'], { timeoutMs: 60_000, env: { FULCRUM_SECRET: undefined } });
  const session = new ZkSession({ connect });
  const push = new Router({ zk: session, root, secret });
  const cache = new ServerCache({ session, root });
  let client: ClusterClient | undefined;
  try {
    await cli.waitForStdout(/servers registered under .*tokens required/, 30_000);
    assert.doesNotMatch(cli.stdout(), new RegExp(secret), 'the secret is never printed');
    const provider = new BalanceProvider({ source: cache, root });
    const anonymous = new ClusterClient({ provider, reconnect: false });
    await assert.rejects(anonymous.connect({ user: 'mallory' }), (e: unknown) => e instanceof LoginError && e.code === 'FULCRUM_TOKEN_MISSING');
    client = new ClusterClient({ provider, reconnect: false });
    const got: unknown[] = [];
    client.on('message', (m) => got.push(m.body));
    await client.connect({ user: 'trent', token: issueToken(secret, 'trent', 60_000) });
    await push.start();
    assert.ok(await eventually(() => push.route('trent') !== undefined));
    assert.equal((await push.push('trent', 'via the CLI cluster')).acked, true);
    assert.deepEqual(got, ['via the CLI cluster']);
    await client.join('one');
    // Past --max-rooms 1: that join is refused, the connection stays.
    await assert.rejects(client.join('two'), (e: unknown) => e instanceof FulcrumError && e.code === 'FULCRUM_TOO_MANY_ROOMS');
    assert.deepEqual([(await push.publish('one', 1)).recipients, (await push.publish('two', 2)).recipients], [1, 0]);
    await client.disconnect();
    cli.kill('SIGTERM');
    const r = await cli.exited;
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await client?.disconnect();
    push.close();
    cache.close();
    session.close();
    cli.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
    zk.close();
  }
});
