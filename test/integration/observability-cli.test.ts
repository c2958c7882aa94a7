import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { closeSocket, openSocket } from '../helpers/socket.js';
import { killPids, lines, pidsWithArg, runCliCommand, startCli, type AnyCliCommand, type CliResult } from '../helpers/cli.js';
import { scrape } from '../helpers/metrics.js';
import { eventually } from '../helpers/eventually.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';

const ALL: AnyCliCommand[] = ['zk', 'servers', 'clients', 'watch', 'demo', 'alloc', 'loadtest', 'push', 'redis', 'soak'];

/** Arguments that make each command valid up to the point of connecting (to a ZooKeeper that is not there). */
const VALID: Record<AnyCliCommand, string[]> = {
  zk: ['status'],
  servers: ['--zk', '127.0.0.1:1', '--count', '1'],
  clients: ['--zk', '127.0.0.1:1', '--count', '1'],
  watch: ['--zk', '127.0.0.1:1'],
  demo: ['--zk', '127.0.0.1:1'],
  alloc: ['--zk', '127.0.0.1:1'],
  loadtest: ['ramp', '--zk', '127.0.0.1:1'],
  push: ['online', '--zk', '127.0.0.1:1'],
  redis: ['status', '--port', '1'],
  soak: ['--zk', '127.0.0.1:1', '--seconds', '10'],
};

function assertUsageExit(r: CliResult, label: string, pattern: RegExp): void {
  const detail = `${label}\ncode ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 2, detail);
  assert.equal(lines(r.stderr).length, 1, `one stderr line: ${detail}`);
  assert.match(r.stderr, pattern, detail);
}

/** A port p with p and p+1 free a moment ago; below the kernel's ephemeral range, where busy test machines' client sockets do not sit. */
async function twoFreePorts(): Promise<number> {
  const canBind = (port: number) =>
    new Promise<boolean>((r) => {
      const s = net.createServer();
      s.once('error', () => r(false)).listen(port, '127.0.0.1', () => s.close(() => r(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await canBind(p)) && (await canBind(p + 1))) return p;
  }
  throw new Error('no two consecutive free ports');
}

test('logs cli - a bad --log-level or FULCRUM_LOG_LEVEL exits 2 with one line, for every command', async () => {
  await Promise.all(
    ALL.map(async (cmd) => {
      assertUsageExit(await runCliCommand(cmd, [...VALID[cmd], '--log-level', 'loud']), `${cmd} --log-level loud`, /--log-level must be one of fatal, error, warn, info, debug, trace, silent/);
      assertUsageExit(await runCliCommand(cmd, VALID[cmd], { env: { FULCRUM_LOG_LEVEL: 'chatty' } }), `${cmd} FULCRUM_LOG_LEVEL=chatty`, /FULCRUM_LOG_LEVEL must be one of/);
      const help = await runCliCommand(cmd, ['--help']);
      assert.match(help.stdout, /--log-level/, `${cmd} --help lists --log-level`);
    }),
  );
});

test('metrics cli - a bad --metrics-port-base exits 2 with one line', async () => {
  for (const bad of ['abc', '-1', '1.5', '70000', '']) {
    assertUsageExit(await runCliCommand('servers', ['--zk', '127.0.0.1:1', '--count', '2', '--metrics-port-base', bad]), `--metrics-port-base ${bad}`, /--metrics-port-base/);
  }
  const overlap = await runCliCommand('servers', ['--zk', '127.0.0.1:1', '--count', '3', '--port-base', '20000', '--metrics-port-base', '20002']);
  assertUsageExit(overlap, 'overlapping ports', /overlaps the server ports 20000-20002/);
});

test('metrics cli - servers --metrics-port-base P serves /metrics on P+i and the connection gauge follows real connections', async () => {
  const connect = await testZk();
  const zk: ZooKeeper = await rawZk(connect);
  const { root, cleanup } = await freshRoot(zk, 'metrics-cli');
  const base = await twoFreePorts();
  const socks: net.Socket[] = [];
  let servers: ReturnType<typeof startCli> | undefined;
  try {
    servers = startCli('servers', ['--zk', connect, '--root', root, '--count', '2', '--metrics-port-base', String(base), '--log-level', 'debug'], { timeoutMs: 60_000 });
    await servers.waitForStdout(/servers registered under/, 25_000);
    const found = [...servers.stdout().matchAll(/^server (\d+)\s+127\.0\.0\.1:(\d+)\s.*\smetrics (http:\/\/\S+)$/gm)].map((m) => ({ index: Number(m[1]), port: Number(m[2]), url: m[3]! }));
    assert.deepEqual(
      found.map((f) => [f.index, f.url]),
      [
        [0, `http://127.0.0.1:${base}/metrics`],
        [1, `http://127.0.0.1:${base + 1}/metrics`],
      ],
      servers.stdout(),
    );
    const [s0, s1] = found as [(typeof found)[0], (typeof found)[0]];
    for (const s of found) {
      const m = await scrape(s.url);
      assert.equal(m.get('fulcrum_server_connections'), 0);
      assert.equal(m.get('fulcrum_zk_connected'), 1);
      assert.equal(m.get('fulcrum_server_registered'), 1);
    }
    for (let i = 0; i < 3; i++) socks.push(await openSocket(s0.port));
    socks.push(await openSocket(s1.port));
    const gauges = async () => [(await scrape(s0.url)).get('fulcrum_server_connections'), (await scrape(s1.url)).get('fulcrum_server_connections')];
    assert.ok(await eventually(async () => (await gauges()).join() === '3,1'), `gauges follow the connections: ${(await gauges()).join()}`);
    assert.ok(await eventually(async () => (await scrape(s0.url)).get('fulcrum_zk_writes_total')! >= 1), 'balance writes counted');
    const m0 = await scrape(s0.url);
    assert.equal(m0.get('fulcrum_server_accepted_total'), 3);
    assert.ok(m0.get('fulcrum_zk_write_seconds_count')! >= 1);

    await Promise.all(socks.splice(0, 2).map(closeSocket));
    assert.ok(await eventually(async () => (await gauges()).join() === '1,1'), `gauge drops: ${(await gauges()).join()}`);
    await Promise.all(socks.splice(0).map(closeSocket));
    assert.ok(await eventually(async () => (await gauges()).join() === '0,0'), `gauges back to 0: ${(await gauges()).join()}`);

    servers.kill('SIGTERM');
    const r = await servers.exited;
    assert.equal(r.code, 0, r.stderr);
    // Piped stderr: every log line of the command and its server processes is JSON.
    const logLines = lines(r.stderr);
    assert.ok(logLines.length > 0, 'the processes logged');
    for (const l of logLines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
    assert.ok(logLines.some((l) => (JSON.parse(l) as { name?: string; msg?: string }).msg === 'listening and registered'));
  } finally {
    await Promise.all(socks.map(closeSocket));
    servers?.kill('SIGKILL');
    killPids(pidsWithArg(root));
    await cleanup();
    zk.close();
  }
});
