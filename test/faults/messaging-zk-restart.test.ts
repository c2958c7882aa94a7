import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/messaging/router.js';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { connectStringOf, startCluster, stopCluster, type ClusterLayout } from '../../src/tools/local-zookeeper.js';
import { ZkSession } from '../../src/zk/session.js';
import { measured } from '../helpers/fault-util.js';
import { allDown } from '../helpers/fault-zk.js';
import { freshRoot, rawZk, TEST_LAYOUT } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { decodeShard } from '../../src/messaging/routes/shard-codec.js';

/** A private standalone ZooKeeper of its own (the restart test's neighbour port). */
const LAYOUT: ClusterLayout = { dir: '.zk/faults-msg', size: 1, basePort: TEST_LAYOUT.basePort + 14, tickMs: 1_000 };
const SESSION_TIMEOUT_MS = 3_000;
const OUTAGE_MS = 4_500;
const USERS = 20;

let connect: string;
before(async () => {
  await startCluster(LAYOUT, { fresh: true });
  connect = connectStringOf(LAYOUT);
});
after(async () => {
  await stopCluster(LAYOUT);
});

test('messaging restart - pushes keep working while ZooKeeper is down (delivery never touches it), and the routes are intact after it is back', async () => {
  const admin = await rawZk(connect);
  const { root } = await freshRoot(admin, 'msg-restart');
  admin.close();
  const runner = new ServerRunner({ count: 2, zk: connect, root, host: '127.0.0.1', sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const session = new ZkSession({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const push = new Router({ zk: session, root, ackTimeoutMs: 3_000 });
  let clients: ClientRunner | undefined;
  const users = Array.from({ length: USERS }, (_, i) => `r-${i}`);
  try {
    await runner.start();
    clients = new ClientRunner({ count: USERS, staggerMs: 0, session, root, login: (i) => ({ user: `r-${i}` }) });
    assert.deepEqual(await clients.start(), { connected: USERS, failed: 0 });
    await push.start();
    assert.ok(await eventually(() => push.routes.size === USERS));
    const before = new Map(users.map((u) => [u, push.route(u)!.server]));

    await stopCluster(LAYOUT);
    assert.ok(await allDown(LAYOUT), 'ZooKeeper is really down');
    const down = await push.pushMany(users, 'while ZooKeeper is down');
    assert.deepEqual(down.filter((r) => !r.acked).map((r) => r.user), [], 'every push acked during the outage');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await startCluster(LAYOUT);
    const backAt = Date.now();

    const check = await rawZk(connect);
    try {
      const inZk = async () => {
        const routes = routesRootOf(root);
        const out = new Map<string, string>();
        for (const name of (await check.get_children(routes, false)) as string[]) {
          const [, data] = (await check.get(`${routes}/${name}`, false)) as [unknown, Buffer];
          const shard = decodeShard(data);
          for (const u of shard?.users.keys() ?? []) out.set(u, shard!.server);
        }
        return out;
      };
      assert.ok(await eventually(async () => (await inZk()).size === USERS, 15_000), 'ZooKeeper still holds every route');
      measured('messaging restart: routes complete in ZooKeeper after restart', `${Date.now() - backAt} ms`, '');
      assert.deepEqual(await inZk(), before);
      const afterRestart = await push.pushMany(users, 'after the restart');
      assert.deepEqual(afterRestart.filter((r) => !r.acked).map((r) => r.user), []);
      assert.deepEqual(new Map(afterRestart.map((r) => [r.user, r.server])), before, 'nobody moved');
    } finally {
      check.close();
    }
  } finally {
    push.close();
    await clients?.stop();
    await runner.stop();
    session.close();
  }
});
