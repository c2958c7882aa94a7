import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type ZooKeeper from 'zookeeper';
import { issueToken } from '../../src/messaging/token.js';
import { Router } from '../../src/messaging/router.js';
import { lines, runCliCommand, type CliResult } from '../helpers/cli.js';
import { closeMessaging, loginOn, routeIs, startMessagingServers } from '../helpers/messaging.js';
import { eventually } from '../helpers/eventually.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

function detail(r: CliResult): string {
  return `code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

test('push cli - bad input is one line on stderr and exit code 2, before anything connects', async () => {
  const long = 'x'.repeat(129);
  const bad: string[][] = [
    [],
    ['--message', '1'],
    ['--user', 'a'],
    ['--user', 'a', '--room', 'r', '--message', '1'],
    ['--room', 'r', '--broadcast', '--message', '1'],
    ['--user', '', '--message', '1'],
    ['--user', long, '--message', '1'],
    ['--user', 'a', '--user', 'a', '--message', '1'],
    ['--room', long, '--message', '1'],
    ['--user', 'a', '--message', '1', '--ack-timeout-ms', 'soon'],
    ['--room', 'r', '--message', '1', '--ack-timeout-ms', '100'],
    ['--user', 'a', '--message', 'x'.repeat(70_000)],
    ['--user', 'a', '--message', '1', '--prefix', 'a'],
    ['--broadcast'],
    ['online', '--limit', '0'],
    ['online', '--limit', 'many'],
    ['online', '--prefix', long],
    ['online', '--user', 'a'],
    ['online', 'extra'],
    ['kick'],
    ['kick', 'a', 'b'],
    ['kick', long],
    ['kick', 'a', '--message', '1'],
    ['shout', '--message', '1'],
    ['--bogus'],
    ['online', '--secret-file', '/nonexistent/secret'],
  ];
  for (const args of bad) {
    // An unreachable ZooKeeper: a check that happened after connecting would show up as a connect timeout, not this.
    const r = await runCliCommand('push', [...args, '--zk', '127.0.0.1:1']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${detail(r)}`);
    assert.equal(lines(r.stderr).length, 1, `${args.join(' ')}: ${detail(r)}`);
    assert.match(r.stderr, /^push: /);
    assert.doesNotMatch(r.stderr, /did not answer/, `${args.join(' ')} was checked before connecting`);
  }
  const help = await runCliCommand('push', ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--broadcast/);
});

test('push cli - pushes to users, publishes, broadcasts, lists online users and kicks, without HTTP', async () => {
  const { root, cleanup } = await freshRoot(zk, 'push-cli');
  const servers = await startMessagingServers(2, { zk: connect, root });
  const view = new Router({ zk: connect, root });
  try {
    await view.start();
    const users = await Promise.all(['ann', 'bob', 'cy'].map((u, i) => loginOn(servers[i % 2]!, { user: u })));
    await users[0]!.client.join('news');
    for (const [i, u] of ['ann', 'bob', 'cy'].entries()) assert.ok(await routeIs([view], u, servers[i % 2]!.id));
    const zkArgs = ['--zk', connect, '--root', root];

    const one = await runCliCommand('push', ['--user', 'bob', '--message', '{"n":1}', ...zkArgs]);
    assert.equal(one.code, 0, detail(one));
    assert.match(one.stdout, new RegExp(`^acked +bob +on ${servers[1]!.id.replace(/\./g, '\\.')} +id \\S+\\n$`));
    assert.deepEqual(users[1]!.messages.map((m) => m.body), [{ n: 1 }]);

    const two = await runCliCommand('push', ['--user', 'ann', '--user', 'nobody', '--message', 'plain text', ...zkArgs]);
    assert.equal(two.code, 1, `one user offline: exit 1\n${detail(two)}`);
    assert.deepEqual(lines(two.stdout).map((l) => l.split(/\s+/).slice(0, 2).join(' ')), ['acked ann', 'failed nobody']);
    assert.match(two.stdout, /FULCRUM_USER_OFFLINE/);
    assert.deepEqual(users[0]!.messages.map((m) => m.body), ['plain text']);

    const pub = await runCliCommand('push', ['--room', 'news', '--message', '"headline"', ...zkArgs]);
    assert.equal(pub.code, 0, detail(pub));
    assert.equal(pub.stdout, 'room news: 1 recipients on 2 servers\n');
    const all = await runCliCommand('push', ['--broadcast', '--message', '42', ...zkArgs]);
    assert.equal(all.code, 0, detail(all));
    assert.equal(all.stdout, 'broadcast: 3 recipients on 2 servers\n');
    assert.ok(await eventually(() => users[0]!.messages.length === 3 && users[1]!.messages.length === 2 && users[2]!.messages.length === 1));
    assert.deepEqual(users.map((u) => u.messages.map((m) => m.body)), [['plain text', 'headline', 42], [{ n: 1 }, 42], [42]]);

    const online = await runCliCommand('push', ['online', ...zkArgs]);
    assert.equal(online.code, 0, detail(online));
    const ol = lines(online.stdout);
    assert.equal(ol[0], '3 online');
    assert.deepEqual(ol.slice(1).map((l) => l.split(/\s+/).slice(0, 2)), [['ann', servers[0]!.id], ['bob', servers[1]!.id], ['cy', servers[0]!.id]]);
    const some = await runCliCommand('push', ['online', '--prefix', 'b', ...zkArgs]);
    assert.deepEqual(lines(some.stdout).map((l) => l.split(/\s+/)[0]), ['1', 'bob']);

    const kick = await runCliCommand('push', ['kick', 'cy', ...zkArgs]);
    assert.equal(kick.code, 0, detail(kick));
    assert.equal(kick.stdout, `kicked cy (on ${servers[0]!.id})\n`);
    assert.ok(await eventually(() => users[2]!.kicked.length === 1));
    assert.deepEqual(users[2]!.kicked, ['kicked']);
    assert.ok(await routeIs([view], 'cy', undefined));
    const again = await runCliCommand('push', ['kick', 'cy', ...zkArgs]);
    assert.equal(again.code, 1, detail(again));
    assert.equal(lines(again.stderr).length, 1);
    await Promise.all(users.map((u) => u.client.disconnect()));
  } finally {
    view.close();
    await closeMessaging(servers);
    await cleanup();
  }
});

test('push cli - against servers with a secret it needs the same secret; without it nothing is delivered', async () => {
  const secret = 'cli-secret-7Hq';
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-push-'));
  const file = join(dir, 'secret');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  const { root, cleanup } = await freshRoot(zk, 'push-cli-secret');
  const servers = await startMessagingServers(1, { zk: connect, root, secret });
  const view = new Router({ zk: connect, root, secret });
  try {
    await view.start();
    const dee = await loginOn(servers[0]!, { user: 'dee', token: issueToken(secret, 'dee') });
    assert.ok(await routeIs([view], 'dee', servers[0]!.id));
    const zkArgs = ['--zk', connect, '--root', root];
    const without = await runCliCommand('push', ['--user', 'dee', '--message', 'nope', ...zkArgs], { env: { FULCRUM_SECRET: undefined } });
    assert.equal(without.code, 1, detail(without));
    assert.match(without.stdout, /failed +dee +FULCRUM_GATEWAY_UNAVAILABLE/);
    const wrong = await runCliCommand('push', ['--user', 'dee', '--message', 'nope', ...zkArgs], { env: { FULCRUM_SECRET: 'not-it' } });
    assert.equal(wrong.code, 1, detail(wrong));
    const withFile = await runCliCommand('push', ['--user', 'dee', '--message', 'yes', '--secret-file', file, ...zkArgs]);
    assert.equal(withFile.code, 0, detail(withFile));
    const withEnv = await runCliCommand('push', ['--user', 'dee', '--message', 'env', ...zkArgs], { env: { FULCRUM_SECRET: secret } });
    assert.equal(withEnv.code, 0, detail(withEnv));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(dee.messages.map((m) => m.body), ['yes', 'env']);
    await dee.client.disconnect();
  } finally {
    view.close();
    await closeMessaging(servers);
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
