import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, pidAlive } from '../../src/tools/local-daemon.js';
import { stopRedis } from '../../src/tools/local-redis.js';
import { assertUsageExit, REPO_ROOT, runCliCommand } from '../helpers/cli.js';
import { testRedis } from '../helpers/redis.js';

/** A launcher directory of its own under .redis/ and a free port; the server is stopped and the directory removed afterwards. */
async function withLauncherDir(fn: (args: string[], dir: string, port: number) => Promise<void>): Promise<void> {
  const dir = join('.redis', `cli-test-${randomBytes(4).toString('hex')}`);
  const port = await freePort();
  try {
    await fn(['--port', String(port), '--dir', dir], dir, port);
  } finally {
    await stopRedis({ dir: join(REPO_ROOT, dir), port });
    rmSync(join(REPO_ROOT, dir), { recursive: true, force: true });
  }
}

async function withClient<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

test('redis cli - start, PING through ioredis, status, stop', () =>
  withLauncherDir(async (args, dir, port) => {
    const started = await runCliCommand('redis', ['start', ...args]);
    assert.equal(started.code, 0, started.stderr);
    const url = `redis://127.0.0.1:${port}`;
    assert.match(started.stdout, new RegExp(`^url: ${url}$`, 'm'));
    const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);
    assert.ok(pidAlive(pid), started.stdout);
    assert.equal(await withClient(url, (r) => r.ping()), 'PONG');
    // Loopback only, protected mode on, as the README says.
    const conf = await withClient(url, async (r) => Object.fromEntries(await Promise.all(['bind', 'protected-mode', 'appendonly', 'save'].map(async (k) => (await r.config('GET', k)) as string[]))));
    assert.deepEqual(conf, { bind: '127.0.0.1 -::1', 'protected-mode': 'yes', appendonly: 'yes', save: '' });

    const again = await runCliCommand('redis', ['start', ...args]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`pid ${pid} `), 'a second start finds the running server');

    const status = await runCliCommand('redis', ['status', ...args]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`127\\.0\\.0\\.1:${port}  serving  pid ${pid}`));

    const stopped = await runCliCommand('redis', ['stop', ...args]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /stopped redis/);
    assert.equal(pidAlive(pid), false);
    assert.equal(existsSync(join(REPO_ROOT, dir, 'redis.pid')), false);

    const down = await runCliCommand('redis', ['status', ...args]);
    assert.equal(down.code, 3);
    assert.match(down.stdout, /not serving/);
    assert.match((await runCliCommand('redis', ['stop', ...args])).stdout, /no redis was running/);
  }));

test('redis cli - data survives a restart; --fresh starts empty', () =>
  withLauncherDir(async (args, _dir, port) => {
    const url = `redis://127.0.0.1:${port}`;
    assert.equal((await runCliCommand('redis', ['start', ...args])).code, 0);
    await withClient(url, (r) => r.set('fulcrum-test-key', 'kept'));
    assert.equal((await runCliCommand('redis', ['stop', ...args])).code, 0);
    assert.equal((await runCliCommand('redis', ['start', ...args])).code, 0);
    assert.equal(await withClient(url, (r) => r.get('fulcrum-test-key')), 'kept', 'the append-only file brought the key back');
    assert.equal((await runCliCommand('redis', ['stop', ...args])).code, 0);
    assert.equal((await runCliCommand('redis', ['start', '--fresh', ...args])).code, 0);
    assert.equal(await withClient(url, (r) => r.get('fulcrum-test-key')), null);
  }));

test('redis cli - bad input exits 2 with one line and starts nothing', async () => {
  for (const args of [['start', '--frobnicate'], ['start', '--port', '0'], ['start', '--port', '70000'], ['start', '--port', 'x'], ['start', '--dir', ''], [], ['restart'], ['start', 'stop']]) {
    assertUsageExit(await runCliCommand('redis', args), `redis ${args.join(' ')}`, /^redis: /);
  }
  // A port some other process holds: one line naming it, no redis-server left behind.
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    await withLauncherDir(async (args, dir) => {
      assertUsageExit(await runCliCommand('redis', ['start', ...args.slice(2), '--port', String(port)]), `redis start --port ${port}`, new RegExp(`port ${port} is already in use`));
      assert.equal(existsSync(join(REPO_ROOT, dir, 'redis.pid')), false);
    });
  } finally {
    blocker.close();
  }
});

test('redis cli - the test runner shares a Redis with the tests (FULCRUM_TEST_REDIS)', async () => {
  const url = await testRedis();
  assert.match(url, /^redis:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(await withClient(url, (r) => r.ping()), 'PONG');
});
