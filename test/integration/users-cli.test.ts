import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import { assertUsageExit, killPids, pidsWithArg, runCliCommand, startCli } from '../helpers/cli.js';
import { closeMessaging, startMessagingServers } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { testRedis } from '../helpers/redis.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const SECRET = 'users-cli-secret-77c1';

test('clients cli - bad --users flags exit 2 with one line, before connecting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-users-'));
  try {
    const dead = ['--zk', '127.0.0.1:1', '--count', '3'];
    const cases: [string[], RegExp][] = [
      [['--user-prefix', 'p-'], /--user-prefix needs --users/],
      [['--secret-file', join(dir, 'secret')], /--secret-file needs --users/],
      [['--users', '--user-prefix', ''], /--user-prefix must be non-empty/],
      [['--users', '--user-prefix', 'x'.repeat(128)], /at most 128 bytes/],
      [['--users', '--secret-file', join(dir, 'missing')], /--secret-file: cannot read/],
      [['--users', '--user-prefix'], /--user-prefix/],
    ];
    await Promise.all(
      cases.map(async ([args, pattern]) => {
        const r = await runCliCommand('clients', [...dead, ...args]);
        assertUsageExit(r, args.join(' '), pattern);
        assert.doesNotMatch(r.stderr, /did not answer/, 'rejected before connecting');
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clients cli - --users logs every client in (with tokens when there is a secret), counts what each receives and prints the counts', async () => {
  const { root, cleanup } = await freshRoot(zk, 'users-cli');
  const servers = await startMessagingServers(2, { zk: connect, root, secret: SECRET });
  const push = new Router({ zk: connect, root, secret: SECRET });
  const cli = startCli('clients', ['--zk', connect, '--root', root, '--count', '6', '--stagger-ms', '0', '--users', '--user-prefix', 'cli-'], { timeoutMs: 60_000, env: { FULCRUM_SECRET: SECRET } });
  try {
    await cli.waitForStdout(/clients connected 6\/6, failed 0/, 30_000);
    await cli.waitForStdout(/logged in as cli-0 … cli-5 \(with tokens\)/);
    await push.start();
    assert.equal((await push.push('cli-3', 'just you', { waitMs: 10_000 })).acked, true);
    const b = await push.broadcast('everyone');
    assert.equal(b.recipients, 6);
    assert.equal((await push.publish('no-such-room', 'nobody')).recipients, 0);
    await cli.waitForStdout(/messages received 7 by 6\/6 clients \(push or broadcast 7, private 0, room 0\)/, 10_000);
    cli.kill('SIGTERM');
    const r = await cli.exited;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /clients by messages received: 1 → 5, 2 → 1\n/);
    assert.match(r.stdout, /clients disconnected/);
    assert.equal(servers.reduce((n, s) => n + s.stats.logins, 0), 6, 'one login per client');
  } finally {
    cli.kill('SIGKILL');
    push.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('demo cli - clients log in as users; one push and one broadcast arrive; while it holds the dashboard lists every user online', async () => {
  const { root, cleanup } = await freshRoot(zk, 'demo-cli');
  // The test's Redis, so no demo-started one outlives a killed run.
  const demo = startCli('demo', ['--zk', connect, '--root', root, '--redis', await testRedis(), '--servers', '2', '--clients', '12', '--stagger-ms', '0', '--alloc-port', '0', '--hold-ms', '60000'], { timeoutMs: 120_000 });
  try {
    await demo.waitForStdout(/clients connected and logged in 12, failed 0/, 60_000);
    await demo.waitForStdout(/push to user-6: acked from \S+ \(id [^)]+\); arrived at user-6's client only/, 20_000);
    await demo.waitForStdout(/broadcast: written to 12 users on 2 servers; arrived at 12\/12 clients/, 20_000);
    await demo.waitForStdout(/\d+ clients moved to the new server/, 40_000);
    await demo.waitForStdout(/holding for 60000 ms .*the dashboard lists 12 online users/, 20_000);
    const [, url] = (await demo.waitForStdout(/dashboard and allocation service: (http:\/\/\S+)/))!;
    const online = (await (await fetch(new URL('/online?limit=100', url))).json()) as { total: number; users: { user: string }[] };
    assert.equal(online.total, 12);
    assert.deepEqual(online.users.map((u) => u.user).sort(), Array.from({ length: 12 }, (_, i) => `user-${i}`).sort());
    demo.kill('SIGINT');
    const r = await demo.exited;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /2\/2 nodes hold exactly their server's live socket count/);
    assert.match(r.stdout, /done\n$/);
  } finally {
    demo.kill('SIGKILL');
    killPids(pidsWithArg(root));
    await cleanup();
  }
});
