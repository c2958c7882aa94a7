import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ServerCache } from '../../src/discovery/server-cache.js';
import { ZkSession } from '../../src/zk/session.js';
import { assertUsageExit, lines, runCliCommand, startCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { testRedis } from '../helpers/redis.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';

test('history cli - bad --redis and --history-* flags are one line on stderr and exit code 2 (servers, alloc, push, loadtest)', async () => {
  const zk = await testZk();
  const cases: [Parameters<typeof runCliCommand>[0], string[], RegExp][] = [
    ['servers', ['--zk', zk, '--count', '1', '--redis', 'http://127.0.0.1:1'], /--redis: .*redis:\/\//],
    ['servers', ['--zk', zk, '--count', '1', '--redis', 'redis://127.0.0.1:1'], /--redis redis:\/\/127\.0\.0\.1:1: message history: connect failed/],
    ['servers', ['--zk', zk, '--count', '1', '--history-user-messages', '5'], /--history-\* flags need --redis/],
    ['servers', ['--zk', zk, '--count', '1', '--redis', 'redis://127.0.0.1:1', '--history-room-ttl-ms', '10'], /history\.rooms\.ttlMs must be an integer from 1000/],
    ['servers', ['--zk', zk, '--count', '1', '--redis', 'redis-cluster://nohostport'], /expected host:port/],
    ['alloc', ['--zk', zk, '--port', '0', '--redis', 'redis://127.0.0.1:1'], /message history: connect failed/],
    ['push', ['--zk', zk, '--user', 'a', '--message', '1', '--redis', 'mongodb://x'], /--redis: /],
    ['loadtest', ['ramp', '--redis', 'redis://127.0.0.1:1'], /--redis only goes with chaos/],
    ['loadtest', ['chaos', '--zk-port', '0'], /--zk-port must be an integer/],
  ];
  for (const [cmd, args, re] of cases) assertUsageExit(await runCliCommand(cmd, args, { env: { FULCRUM_REDIS: undefined } }), `${cmd} ${args.join(' ')}`, re);
});

test('history cli - servers --redis keep history: npm run push to an offline user prints stored and exits 0; the user gets it at its login', async () => {
  const connect = await testZk();
  const raw = await rawZk(connect);
  const { root, cleanup } = await freshRoot(raw, 'hist-cli');
  const redis = await testRedis();
  const cli = startCli('servers', ['--zk', connect, '--root', root, '--count', '1', '--redis', redis, '--history-user-messages', '50'], { timeoutMs: 60_000, env: { FULCRUM_SECRET: undefined } });
  const session = new ZkSession({ connect });
  const cache = new ServerCache({ session, root });
  const user = `cli-${randomBytes(4).toString('hex')}`;
  let client: ClusterClient | undefined;
  try {
    await cli.waitForStdout(/servers registered under .*history in redis:/, 30_000);
    const pushed = await runCliCommand('push', ['--zk', connect, '--root', root, '--user', user, '--message', '{"n":1}', '--redis', redis], { env: { FULCRUM_SECRET: undefined } });
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    assert.match(lines(pushed.stdout)[0]!, new RegExp(`^stored +${user} +FULCRUM_USER_OFFLINE: delivered at the next login +offset 1 epoch \\S+$`));
    client = new ClusterClient({ provider: new BalanceProvider({ source: cache, root }), reconnect: false });
    const got: unknown[] = [];
    client.on('message', (m) => got.push([m.body, m.offset]));
    await client.connect({ user });
    assert.ok(await eventually(() => got.length === 1), 'the stored push arrives at the login');
    assert.deepEqual(got, [[{ n: 1 }, 1]]);
  } finally {
    await client?.disconnect();
    cache.close();
    session.close();
    cli.kill('SIGTERM');
    await cli.exited;
    await cleanup().catch(() => {});
    raw.close();
  }
});
