import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { closeAll, startServers, balancesExact } from '../helpers/server-fixture.js';
import { freshRoot, rawZk, testZk } from '../helpers/zk.js';
import { closeSocket, openSocket } from '../helpers/socket.js';
import { nodeData } from '../helpers/nodes.js';

test('load - churn: thousands of random connects and disconnects leave zero drift', async () => {
  const connect = await testZk();
  const zk = await rawZk(connect);
  const { root, cleanup } = await freshRoot(zk, 'churn');
  const servers = await startServers(3, { zk: connect, root });
  const open: net.Socket[][] = servers.map(() => []);
  let rnd = 42;
  const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let ops = 0;
  try {
    // 40 concurrent workers, 3,000 operations: connect (60 %) or close a random open socket.
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        while (ops < 3_000) {
          ops++;
          const i = Math.floor(random() * servers.length);
          const list = open[i]!;
          if (list.length === 0 || random() < 0.6) list.push(await openSocket(servers[i]!.endpoint!.port));
          else await closeSocket(list.splice(Math.floor(random() * list.length), 1)[0]!);
        }
      }),
    );
    assert.ok(await balancesExact(zk, root, servers, 15_000), 'every node settles on its live socket count');
    const nodes = await nodeData(zk, root);
    servers.forEach((s, i) => assert.equal(nodes.get(s.id)!.balance, open[i]!.length, `${s.id} drift`));
    const events = servers.reduce((a, s) => a + s.stats.events, 0);
    const writes = servers.reduce((a, s) => a + s.stats.writes, 0);
    assert.ok(events >= 3_000, `events ${events}`);
    assert.ok(writes < events, `writes ${writes} < events ${events}`);
  } finally {
    await Promise.all(open.flat().map(closeSocket));
    await closeAll(servers);
    await cleanup();
    zk.close();
  }
});
