import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { Router } from '../../src/messaging/router.js';
import { issueToken } from '../../src/messaging/token.js';
import { ClientRunner } from '../../src/tools/runner/client-runner.js';
import { ServerRunner } from '../../src/tools/runner/server-runner.js';
import { ZkSession } from '../../src/zk/session.js';
import { exitOf, measured } from '../helpers/fault-util.js';
import { statOf } from '../helpers/nodes.js';
import { whenTrue } from '../helpers/eventually.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

const SESSION_TIMEOUT_MS = 3_000;
const USERS = 200;
const SECRET = 'crash-secret';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('messaging crash - kill -9 of a server holding logged-in users: each re-homes, logs in again and is reachable by push; none stays listed on the dead server', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-crash');
  const runner = new ServerRunner({ count: 3, zk: connect, root, host: '127.0.0.1', sessionTimeoutMs: SESSION_TIMEOUT_MS, secret: SECRET });
  const session = new ZkSession({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const push = new Router({ zk: session, root, secret: SECRET, ackTimeoutMs: 2_000 });
  let clients: ClientRunner | undefined;
  try {
    await runner.start();
    clients = new ClientRunner({ count: USERS, staggerMs: 0, session, root, strategy: 'least', login: (i) => ({ user: `user-${i}`, token: () => issueToken(SECRET, `user-${i}`, 60_000) }) });
    assert.deepEqual(await clients.start(), { connected: USERS, failed: 0 });
    await push.start();
    assert.ok(await eventually(() => push.routes.size === USERS), `routes ${push.routes.size}`);
    const victim = runner.servers[0]!;
    const orphans = clients.clients.map((c, i) => ({ c, user: `user-${i}` })).filter((x) => x.c.server?.name === victim.id).map((x) => x.user);
    assert.ok(orphans.length >= 30, `server 0 holds ${orphans.length} users`);
    for (const u of orphans) assert.equal(push.route(u)?.server, victim.id);

    let killedAt = Date.now();
    const reLoggedIn: number[] = [];
    const noticed: number[] = [];
    const reconnected: number[] = [];
    for (const [i, c] of clients.clients.entries()) {
      if (!orphans.includes(`user-${i}`)) continue;
      c.once('disconnected', () => noticed.push(Date.now() - killedAt));
      c.once('connected', () => reconnected.push(Date.now() - killedAt));
      c.once('loggedIn', () => reLoggedIn.push(Date.now() - killedAt));
    }
    const exited = exitOf(victim.child);
    runner.signal(0, 'SIGKILL');
    killedAt = Date.now();
    assert.equal((await exited).signal, 'SIGKILL');
    // Push to every orphan until each one acks; the dead server's routes are still in ZooKeeper meanwhile.
    const reachableAfter = await Promise.all(
      orphans.map(async (u) => {
        for (;;) {
          try {
            const r = await push.push(u, 'are you back?', { waitMs: 200 });
            assert.notEqual(r.server, victim.id);
            return Date.now() - killedAt;
          } catch (e) {
            if (Date.now() - killedAt > 15_000) throw e;
          }
        }
      }),
    );
    const worst = Math.max(...reachableAfter);
    const sorted = [...reachableAfter].sort((a, b) => a - b);
    measured(`messaging crash: ${orphans.length} orphaned users reachable again after kill -9 (p50 / max)`, `${sorted[Math.floor(sorted.length / 2)]} ms / ${worst} ms`, '');
    assert.ok(worst < 5_000, `every orphan reachable ${worst} ms after the kill (target 1 s, generous bound for a loaded machine)`);
    measured('messaging crash: orphans after kill -9: socket closed / reconnected / logged in again (max)', `${Math.max(...noticed)} / ${Math.max(...reconnected)} / ${Math.max(...reLoggedIn)} ms (${reLoggedIn.length} logins)`, '');
    const stillListedAtRehome = await statOf(zk, victim.path);
    measured('messaging crash: dead server node still listed when all were reachable', stillListedAtRehome ? 'yes' : 'no', '');

    const goneAt = await whenTrue(async () => (await statOf(zk, victim.path)) === undefined, 20_000, 25);
    assert.ok(goneAt !== undefined, 'the dead server node went away');
    assert.ok(await eventually(() => push.online({ limit: USERS }).users.every((u) => u.server !== victim.id), 10_000), 'no user is listed on the dead server after its session expired');
    assert.equal(push.online({ limit: 1 }).total, USERS);
    // And every user, orphan or not, is reachable exactly once.
    const results = await push.pushMany(Array.from({ length: USERS }, (_, i) => `user-${i}`), 'roll call');
    assert.deepEqual(results.filter((r) => !r.acked).map((r) => `${r.user}: ${r.error?.code}`), []);
  } finally {
    push.close();
    await clients?.stop();
    await runner.stop();
    session.close();
    await cleanup();
  }
});
