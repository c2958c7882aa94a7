import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type ZooKeeper from 'zookeeper';
import { BalanceProvider } from '../../src/balancing/balance-provider.js';
import { ClusterClient } from '../../src/client/cluster-client.js';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { connectStringOf, findLeader, nodeSpecs, pidAlive, readPid, serverMode, sessionsOn, stopCluster } from '../../src/tools/local-zookeeper.js';
import { ZkSession } from '../../src/zk/session.js';
import { runCliCommand } from '../helpers/cli.js';
import { measured } from '../helpers/fault-util.js';
import { ENSEMBLE_LAYOUT } from '../helpers/fault-zk.js';
import { freshRoot, rawZk } from '../helpers/zk.js';
import { eventually, whenTrue } from '../helpers/eventually.js';
import { nodeData, statOf } from '../helpers/nodes.js';

const SESSION_TIMEOUT_MS = 5_000;
const CLI_ARGS = ['--ensemble', '3', '--port', String(ENSEMBLE_LAYOUT.basePort), '--dir', ENSEMBLE_LAYOUT.dir, '--tick-ms', String(ENSEMBLE_LAYOUT.tickMs)];

let connect: string;
let cliStart: { code: number | null; stdout: string; stderr: string };
before(async () => {
  // Started through the CLI (`npm run zk -- start --ensemble 3 ...`), which is what the first test checks.
  cliStart = await runCliCommand('zk', ['start', ...CLI_ARGS, '--fresh'], { timeoutMs: 60_000 });
  connect = connectStringOf(ENSEMBLE_LAYOUT);
});
after(async () => {
  await runCliCommand('zk', ['stop', ...CLI_ARGS], { timeoutMs: 30_000 }).catch(() => undefined);
  await stopCluster(ENSEMBLE_LAYOUT); // whatever the CLI left (it is idempotent)
});

/** Listening TCP addresses (host:port) of the given pids, from `ss -ltnp`. */
function listening(pids: number[]): string[] {
  const out = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  const addrs: string[] = [];
  for (const line of out.split('\n')) {
    const pid = /pid=(\d+)/.exec(line)?.[1];
    if (!pid || !pids.includes(Number(pid))) continue;
    const local = line.trim().split(/\s+/)[3]!;
    addrs.push(local.replace('[::ffff:127.0.0.1]', '127.0.0.1'));
  }
  return addrs.sort();
}

test('ensemble - `zk start --ensemble 3` runs three loopback nodes on base, base+10000 and base+11000 ports', async () => {
  assert.equal(cliStart.code, 0, cliStart.stderr);
  const lines = cliStart.stdout.split('\n').filter((l) => l.startsWith('zookeeper '));
  assert.equal(lines.length, 3, cliStart.stdout);
  const modes = lines.map((l) => /\((\w+)\)/.exec(l)?.[1]).sort();
  assert.deepEqual(modes, ['follower', 'follower', 'leader']);
  assert.match(cliStart.stdout, new RegExp(`connect string: ${connect.replace(/\./g, '\\.')}`));
  const status = await runCliCommand('zk', ['status', ...CLI_ARGS]);
  assert.equal(status.code, 0, status.stdout + status.stderr);

  const specs = nodeSpecs(ENSEMBLE_LAYOUT);
  const pids = specs.map((s) => readPid(s.dir)!);
  assert.ok(pids.every((p) => p && pidAlive(p)));
  const leader = (await findLeader(ENSEMBLE_LAYOUT))!;
  const base = ENSEMBLE_LAYOUT.basePort;
  const expected = [
    ...[0, 1, 2].map((i) => `127.0.0.1:${base + i}`), // client ports
    ...[0, 1, 2].map((i) => `127.0.0.1:${base + 11_000 + i}`), // election ports (every node)
    `127.0.0.1:${leader.clientPort + 10_000}`, // quorum port: only the leader accepts followers
  ].sort();
  assert.deepEqual(listening(pids), expected, 'every port on loopback, nothing else open');
});

test('ensemble - killing the leader loses no registration and no pick', async () => {
  const zk: ZooKeeper = await rawZk(connect);
  const { root, cleanup } = await freshRoot(zk, 'leader');
  const servers: ClusterServer[] = [];
  const session = new ZkSession({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  let clients: ClientRunner | undefined;
  const extra: ClusterClient[] = [];
  let picking = true;
  let picker: Promise<void> | undefined;
  try {
    const leader = (await findLeader(ENSEMBLE_LAYOUT))!;
    // Servers connect to a random member; add servers until at least one sits on the leader.
    const addServer = async () => {
      const s = new ClusterServer({ zk: connect, root, sessionTimeoutMs: SESSION_TIMEOUT_MS });
      servers.push(s);
      await s.listen();
    };
    for (let i = 0; i < 3; i++) await addServer();
    const onLeader = async () => {
      const sids = await sessionsOn(leader.clientPort);
      return servers.filter((s) => sids.has(s.session.sessionId!)).length;
    };
    // Each lands on the leader with p = 1/3: 30 tries leave a 5e-6 chance of none.
    while ((await onLeader()) === 0 && servers.length < 30) await addServer();
    const serversOnLeader = await onLeader();
    assert.ok(serversOnLeader > 0, 'at least one server session is on the leader');
    measured('ensemble: server sessions on the leader', `${serversOnLeader} of ${servers.length}`);

    clients = new ClientRunner({ count: 12, staggerMs: 0, session, root, discovery: 'cache' });
    assert.deepEqual(await clients.start(), { connected: 12, failed: 0 });
    const exact = async () => {
      try {
        const nodes = await nodeData(zk, root);
        return nodes.size === servers.length && servers.every((s) => nodes.get(s.id)?.balance === s.connections.size);
      } catch {
        return false; // our inspection handle may itself be failing over
      }
    };
    assert.ok(await eventually(exact), 'balances exact before the kill');
    const owners = new Map(await Promise.all(servers.map(async (s) => [s.id, (await statOf(zk, s.nodePath!))!.ephemeralOwner] as const)));

    // Picks and connects keep going through the election.
    const provider = new BalanceProvider({ source: clients.cache!, root });
    let picks = 0;
    let pickFailures = 0;
    let connects = 0;
    let connectFailures = 0;
    picker = (async () => {
      while (picking) {
        try {
          const s = await provider.pick();
          provider.release(s.name);
          picks++;
        } catch {
          pickFailures++;
        }
        if (picks % 10 === 0) {
          const c = new ClusterClient({ provider, reconnect: false });
          extra.push(c);
          await c.connect().then(
            () => connects++,
            () => connectFailures++,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    let disconnects = 0;
    for (const s of servers) s.session.on('disconnected', () => disconnects++);
    const pid = readPid(leader.dir)!;
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    const electedAt = await whenTrue(async () => {
      const l = await findLeader(ENSEMBLE_LAYOUT);
      return l !== undefined && l.clientPort !== leader.clientPort;
    }, 30_000, 25);
    assert.ok(electedAt !== undefined, 'a new leader was elected');
    measured('ensemble: new leader elected after kill -9 of the old one', electedAt - killedAt);
    assert.equal(await serverMode(leader.clientPort), undefined, 'the old leader is gone');

    const backAt = await whenTrue(() => servers.every((s) => s.session.isConnected), 30_000, 25);
    assert.ok(backAt !== undefined, 'every server session reconnected');
    measured('ensemble: all server sessions reconnected after the kill', backAt - killedAt);
    assert.ok(disconnects >= serversOnLeader, `the servers on the leader lost their connection (${disconnects} disconnects)`);
    picking = false;
    await picker;
    assert.ok(await eventually(exact, 15_000), 'every node present with the exact balance');
    for (const s of servers) {
      assert.equal((await statOf(zk, s.nodePath!))?.ephemeralOwner, owners.get(s.id), `${s.id}: same session, never re-registered`);
      assert.equal(s.stats.reregistrations, 0);
    }
    measured('ensemble: picks / connects during the election', `${picks} picks, ${connects} connects`);
    assert.equal(pickFailures, 0, 'no pick failed');
    assert.equal(connectFailures, 0, 'no connect failed');
    assert.ok(picks > 0 && connects > 0);
    assert.equal(clients.liveClients, 12, 'no client lost its connection');
  } finally {
    picking = false;
    await picker;
    await Promise.all(extra.map((c) => c.disconnect()));
    await clients?.stop();
    await Promise.all(servers.map((s) => s.close()));
    session.close();
    await cleanup().catch(() => {});
    zk.close();
  }
});
