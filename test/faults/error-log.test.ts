import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import type ZooKeeper from 'zookeeper';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { createLogger } from '../../src/log/logger.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { encodeServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { statOf } from '../helpers/nodes.js';
import { eventually } from '../helpers/eventually.js';
import { freshRoot, rawZk, useTestZk } from '../helpers/zk.js';

const SESSION_TIMEOUT_MS = 4_000;

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

/** A port that was free a moment ago (the server name is ip:port, so the test must know it up front). */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function jsonLines(lines: readonly string[]): Record<string, unknown>[] {
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

test('error log - a server process whose node name is held by a foreign session logs FULCRUM_NODE_CONFLICT as a JSON line', async () => {
  const { root, cleanup } = await freshRoot(zk, 'errlog');
  const foreign = await rawZk(connect);
  let foreignOpen = true;
  const port = await freePort();
  const path = `${root}/127.0.0.1:${port}`;
  const stderr: string[] = [];
  const runner = new ServerRunner({ count: 1, zk: connect, root, host: '127.0.0.1', portBase: port, sessionTimeoutMs: SESSION_TIMEOUT_MS, onStderr: (_i, line) => stderr.push(line) });
  let starting: Promise<unknown> | undefined;
  try {
    await foreign.create(path, encodeServerData({ ip: '127.0.0.1', port, balance: 5 }), C.ZOO_EPHEMERAL);
    starting = runner.start();
    starting.catch(() => {}); // awaited below; a rejection before then must not go unhandled
    const conflict = () => jsonLines(stderr).find((l) => l.code === 'FULCRUM_NODE_CONFLICT');
    assert.ok(await eventually(() => conflict() !== undefined, 15_000), `a conflict line on stderr:\n${stderr.join('\n')}`);
    const line = conflict()!;
    assert.equal(line.level, 50, 'logged at error level');
    assert.equal(line.name, 'server');
    assert.equal(line.server, 0);
    assert.match(String(line.msg), new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*another ZooKeeper session`));
    assert.equal((await statOf(zk, path))?.ephemeralOwner, String(foreign.client_id), 'the foreign node is untouched');
    // Once the name is free the waiting server registers.
    foreign.close();
    foreignOpen = false;
    const [s] = (await starting) as Awaited<ReturnType<ServerRunner['start']>>;
    assert.equal(s!.path, path);
    assert.ok(await eventually(async () => (await statOf(zk, path))?.ephemeralOwner !== undefined && (await statOf(zk, path))?.ephemeralOwner !== String(foreign.client_id)));
    assert.ok(jsonLines(stderr).some((l) => l.msg === 'listening and registered'), 'every stderr line is JSON when piped');
  } finally {
    if (foreignOpen) foreign.close();
    await starting?.catch(() => {});
    await runner.stop();
    await cleanup();
  }
});

test('error log - a ClusterServer with no error listener logs a registration conflict to its logger', async () => {
  const { root, cleanup } = await freshRoot(zk, 'errlog');
  const foreign = await rawZk(connect);
  let foreignOpen = true;
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ name: 'test', level: 'info', destination });
  const server = new ClusterServer({ zk: connect, root, id: 'taken', sessionTimeoutMs: SESSION_TIMEOUT_MS, logger });
  try {
    await foreign.create(`${root}/taken`, encodeServerData({ ip: '127.0.0.1', port: 1, balance: 1 }), C.ZOO_EPHEMERAL);
    const listening = server.listen();
    listening.catch(() => {});
    assert.equal(server.listenerCount('error'), 0);
    assert.ok(await eventually(() => jsonLines(lines).some((l) => l.code === 'FULCRUM_NODE_CONFLICT' && l.server === 'taken'), 10_000), lines.join('\n'));
    foreign.close();
    foreignOpen = false;
    await listening;
  } finally {
    if (foreignOpen) foreign.close();
    await server.close();
    await cleanup();
  }
});
