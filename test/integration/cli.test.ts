import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import type ZooKeeper from 'zookeeper';
import { freshRoot, rawZk, testZk, withRoot } from '../helpers/zk.js';
import { assertUsageExit, killPids, pidsWithArg, REPO_ROOT, runCliCommand, startCli, type CliCommand } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';

const COMMANDS: CliCommand[] = ['zk', 'servers', 'clients', 'watch', 'demo'];
/** Commands that take --zk and --root. */
const ZK_COMMANDS: CliCommand[] = ['servers', 'clients', 'watch', 'demo'];
/** Bounded wait for a command to give up on an unreachable ZooKeeper. */
const UNREACHABLE_LIMIT_MS = 15_000;

/** Numeric flags each command validates, with the arguments that make everything else valid. */
const BAD_NUMBERS: Record<CliCommand, string[][]> = {
  zk: [
    ['status', '--ensemble', 'abc'],
    ['status', '--ensemble', '0'],
    ['status', '--ensemble', '2'],
    ['status', '--port', '-5'],
    ['status', '--port=-5'],
    ['status', '--port', '1.5'],
  ],
  servers: [
    ['--count', 'abc'],
    ['--count', '0'],
    ['--count', '1.5'],
    ['--count', '2', '--drain-ms', '-5'],
    ['--count', '2', '--drain-ms=-5'],
    ['--count', '2', '--port-base', '70000'],
    ['--count', '2', '--max-connections', 'x'],
  ],
  clients: [
    ['--count', 'abc'],
    ['--count', '0'],
    ['--count', ''],
    ['--count', '5', '--stagger-ms', '-5'],
    ['--count', '5', '--stagger-ms=-5'],
    ['--count', '5', '--hold-ms', 'soon'],
    ['--count', '5', '--concurrent-reads', '4'],
    ['--count', '5', '--independent', '--concurrent-reads', '0'],
    ['--count', '5', '--independent', '--discovery', 'read'],
  ],
  // watch has no numeric flags: a stray --count is an unknown option, also exit 2.
  watch: [['--count', 'abc']],
  demo: [
    ['--servers', 'abc'],
    ['--servers', '0'],
    ['--clients', '0'],
    ['--stagger-ms', '-5'],
    ['--stagger-ms=-5'],
  ],
};

/** Points commands that talk to ZooKeeper at a port nothing listens on, so a regression fails fast instead of connecting (or, for demo, starting a ZooKeeper). */
function withDeadZk(cmd: CliCommand, args: string[]): string[] {
  return ZK_COMMANDS.includes(cmd) ? ['--zk', '127.0.0.1:1', ...args] : args;
}

async function inParallel<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(items.map(fn));
  const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed.length) throw failed[0]!.reason;
}

async function childrenOf(zk: ZooKeeper, path: string): Promise<string[]> {
  try {
    return await zk.get_children(path, false);
  } catch (e) {
    if (/^-101\b/.test((e as Error).message)) return [];
    throw e;
  }
}

test('cli - npm scripts run the compiled commands', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const cmd of COMMANDS) assert.equal(pkg.scripts[cmd], `node dist/src/tools/cli/${cmd}.js`);
});

test('cli - --help exits 0 and prints usage', async () => {
  await inParallel(COMMANDS, async (cmd) => {
    for (const flag of ['--help', '-h']) {
      const r = await runCliCommand(cmd, [flag]);
      assert.equal(r.code, 0, `${cmd} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: npm run /m, `${cmd} ${flag}`);
      assert.equal(r.stderr, '', `${cmd} ${flag}`);
    }
  });
});

test('cli - unknown flag exits 2 with one line on stderr', async () => {
  await inParallel(COMMANDS, async (cmd) => {
    const r = await runCliCommand(cmd, cmd === 'zk' ? ['status', '--frobnicate'] : ['--frobnicate']);
    assertUsageExit(r, `${cmd} --frobnicate`, /--frobnicate/);
    assert.ok(r.stderr.startsWith(`${cmd}: `), `prefixed with the command name: ${r.stderr}`);
  });
});

test('cli - bad numbers exit 2 with one line', async () => {
  await inParallel(COMMANDS, async (cmd) => {
    for (const args of BAD_NUMBERS[cmd]) {
      const r = await runCliCommand(cmd, withDeadZk(cmd, args));
      assertUsageExit(r, `${cmd} ${args.join(' ')}`);
      assert.doesNotMatch(r.stderr, /did not answer|no ZooKeeper/, 'rejected before connecting');
    }
  });
});

test('cli - unparsable --zk exits 2 with one line naming --zk', async () => {
  await inParallel(ZK_COMMANDS, async (cmd) => {
    const extra = cmd === 'servers' || cmd === 'clients' ? ['--count', '1'] : [];
    for (const zk of ['nonsense', '127.0.0.1:0', 'host:abc', '127.0.0.1:2181,']) {
      assertUsageExit(await runCliCommand(cmd, ['--zk', zk, ...extra]), `${cmd} --zk ${zk}`, /--zk/);
    }
    // The environment is validated the same way.
    assertUsageExit(await runCliCommand(cmd, extra, { env: { FULCRUM_ZK: 'nonsense' } }), `${cmd} FULCRUM_ZK=nonsense`, /nonsense/);
  });
});

test('cli - relative --root exits 2 with one line', async () => {
  await inParallel(ZK_COMMANDS, async (cmd) => {
    const extra = cmd === 'servers' || cmd === 'clients' ? ['--count', '1'] : [];
    assertUsageExit(await runCliCommand(cmd, withDeadZk(cmd, ['--root', 'relative/path', ...extra])), `${cmd} --root relative/path`, /--root/);
    assertUsageExit(await runCliCommand(cmd, withDeadZk(cmd, extra), { env: { FULCRUM_ROOT: 'relative/path' } }), `${cmd} FULCRUM_ROOT=relative/path`, /relative\/path/);
  });
});

test('cli - unreachable ZooKeeper exits 2 with one line in bounded time', async () => {
  await inParallel<CliCommand>(['servers', 'clients', 'watch'], async (cmd) => {
    const extra = cmd === 'servers' || cmd === 'clients' ? ['--count', '1'] : [];
    const r = await runCliCommand(cmd, ['--zk', '127.0.0.1:1', '--root', '/fulcrum-test/unreachable/servers', ...extra], { timeoutMs: UNREACHABLE_LIMIT_MS + 5_000 });
    assertUsageExit(r, `${cmd} --zk 127.0.0.1:1`, /127\.0\.0\.1:1\b/);
    assert.ok(r.ms < UNREACHABLE_LIMIT_MS, `${cmd} took ${r.ms} ms`);
  });
});

test('cli - demo with an unreachable --zk exits 2 with one line', async () => {
  // A non-default --zk that does not answer must not start a local ZooKeeper.
  const r = await runCliCommand('demo', ['--zk', '127.0.0.1:1', '--root', '/fulcrum-test/unreachable/servers'], { timeoutMs: UNREACHABLE_LIMIT_MS + 5_000 });
  assertUsageExit(r, 'demo --zk 127.0.0.1:1', /127\.0\.0\.1:1\b/);
  assert.ok(r.ms < UNREACHABLE_LIMIT_MS, `demo took ${r.ms} ms`);
});

test('cli - zk with a bad or missing subcommand exits 2', async () => {
  for (const args of [['frobnicate'], [], ['start', 'stop'], ['status', 'extra']]) {
    assertUsageExit(await runCliCommand('zk', args), `zk ${args.join(' ')}`, /start, stop, status/);
  }
});

test('cli - servers on a port already in use exits 2 naming the port', () =>
  withRoot('cli', async ({ connect: zkConnect, raw: zk, root }) => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as net.AddressInfo).port;
    let cli: ReturnType<typeof startCli> | undefined;
    try {
      cli = startCli('servers', ['--zk', zkConnect, '--root', root, '--count', '1', '--port-base', String(port)], { timeoutMs: 30_000 });
      const r = await cli.exited;
      assertUsageExit(r, `servers --port-base ${port}`, new RegExp(`${port}.*(port in use|EADDRINUSE)|(port in use|EADDRINUSE).*${port}`));
      assert.equal(r.stdout, '', 'nothing registered, nothing printed');
      assert.deepEqual(await childrenOf(zk, root), [], 'no node left behind');
      assert.ok(await eventually(() => pidsWithArg(root).length === 0, 5_000), 'no server process left behind');
    } finally {
      cli?.kill('SIGKILL');
      killPids(pidsWithArg(root));
      blocker.close();
    }
  }));

test(
  'cli - servers --count 4 on a port in use exits 2 with one line and leaves no node behind',
  async () => {
    const zkConnect = await testZk();
    const zk = await rawZk(zkConnect);
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as net.AddressInfo).port;
    const roots: { root: string; cleanup: () => Promise<void> }[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const fresh = await freshRoot(zk, 'cli');
        roots.push(fresh);
        const r = await runCliCommand('servers', ['--zk', zkConnect, '--root', fresh.root, '--count', '4', '--port-base', String(port)], { timeoutMs: 30_000 });
        assertUsageExit(r, `run ${i}: servers --count 4 --port-base ${port}`, /port in use/);
        assert.ok(await eventually(() => pidsWithArg(fresh.root).length === 0, 5_000), 'no server process left behind');
        assert.deepEqual(await childrenOf(zk, fresh.root), [], `run ${i}: no node left behind`);
      }
    } finally {
      for (const { root } of roots) killPids(pidsWithArg(root));
      blocker.close();
      for (const { cleanup } of roots) await cleanup();
      zk.close();
    }
  },
);

test('cli - servers then clients end to end, SIGTERM stops cleanly', () =>
  withRoot('cli', async ({ connect: zkConnect, raw: zk, root }) => {
    let servers: ReturnType<typeof startCli> | undefined;
    let clients: ReturnType<typeof startCli> | undefined;
    const serverPids: number[] = [];
    try {
      servers = startCli('servers', ['--zk', zkConnect, '--root', root, '--count', '2'], { timeoutMs: 45_000 });
      await servers.waitForStdout(/servers registered under/, 25_000);
      const serverLines = servers.stdout().split('\n').filter((l) => /^server \d+\s/.test(l));
      assert.equal(serverLines.length, 2, servers.stdout());
      assert.match(servers.stdout(), /rebalancing on/, 'rebalancing is on by default');
      const seen = new Set<number>();
      for (const l of serverLines) {
        const m = /^server (\d+)\s+(\d+\.\d+\.\d+\.\d+):(\d+)\s+pid (\d+)\b/.exec(l);
        assert.ok(m, `line shape: ${l}`);
        seen.add(Number(m[1]));
        serverPids.push(Number(m[4]));
        assert.ok(Number(m[3]) > 0 && Number(m[3]) < 65536);
      }
      assert.deepEqual([...seen].sort(), [0, 1]);
      assert.equal((await childrenOf(zk, root)).length, 2, 'two nodes registered');

      clients = startCli('clients', ['--zk', zkConnect, '--root', root, '--count', '20', '--stagger-ms', '5', '--hold-ms', '1500'], { timeoutMs: 20_000 });
      const c = await clients.exited;
      assert.equal(c.timedOut, false, c.stdout + c.stderr);
      assert.equal(c.code, 0, `clients: ${c.stdout}\n${c.stderr}`);
      assert.match(c.stdout, /clients connected 20\/20, failed 0/);
      assert.match(c.stdout, /clients disconnected/);

      // The same as independent devices: each client reads ZooKeeper and picks on its own.
      clients = startCli('clients', ['--zk', zkConnect, '--root', root, '--count', '20', '--stagger-ms', '0', '--independent', '--hold-ms', '1500'], { timeoutMs: 20_000 });
      const ind = await clients.exited;
      assert.equal(ind.timedOut, false, ind.stdout + ind.stderr);
      assert.equal(ind.code, 0, `clients --independent: ${ind.stdout}\n${ind.stderr}`);
      assert.match(ind.stdout, /clients connected 20\/20, failed 0/);

      servers.kill('SIGTERM');
      const s = await servers.exited;
      assert.equal(s.timedOut, false);
      assert.equal(s.code, 0, `servers: ${s.stdout}\n${s.stderr}`);
      assert.match(s.stdout, /all servers stopped/);
      assert.deepEqual(await childrenOf(zk, root), [], 'nodes gone after SIGTERM');
      assert.ok(await eventually(() => pidsWithArg(root).length === 0, 5_000), `server processes gone: ${pidsWithArg(root).join(',')}`);
    } finally {
      clients?.kill('SIGKILL');
      servers?.kill('SIGKILL');
      killPids(pidsWithArg(root));
    }
  }));
