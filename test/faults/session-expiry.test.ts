import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { NodeConflictError } from '../../src/registry/registration.js';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { encodeServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { ZkSession } from '../../src/zk/session.js';
import { expireSession } from '../helpers/expire-session.js';
import { firstPort, startProxy } from '../helpers/fault-proxy.js';
import { measured } from '../helpers/fault-util.js';
import { freshRoot, rawZk, useTestZk } from '../helpers/zk.js';
import { eventually, whenTrue } from '../helpers/eventually.js';
import { dataOf, statOf } from '../helpers/nodes.js';
import { withRunner } from '../helpers/runner-fixture.js';
import { withServer } from '../helpers/server-fixture.js';
import { closeSocket, openSocket, ping } from '../helpers/socket.js';

/** The shared test ZooKeeper runs tickTime 1000, so 3 s is a legal (and quick) session timeout. */
const SESSION_TIMEOUT_MS = 3_000;
/** The stated bound is 2 s; asserted with headroom for this noisy 2-core machine (the measured value is printed). */
const REREGISTER_BOUND_MS = 4_000;

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

test('expiry - a server paused (SIGSTOP) past its session timeout re-registers with its current balance and drops no client socket', () =>
  withRunner({ label: 'sigstop', servers: { count: 1, sessionTimeoutMs: SESSION_TIMEOUT_MS } }, async ({ zk, root, runner }) => {
    const socks: net.Socket[] = [];
    const closedByUs = new Set<net.Socket>();
    let dropped = 0;
    const open = async (port: number) => {
      const s = await openSocket(port);
      s.on('close', () => {
        if (!closedByUs.has(s)) dropped++;
      });
      socks.push(s);
      return s;
    };
    try {
      const srv = runner.servers[0];
      const path = srv!.path;
      for (let i = 0; i < 20; i++) await open(srv!.port);
      assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === 20), 'balance 20 before the pause');
      const oldOwner = (await statOf(zk, path))!.ephemeralOwner;

      runner.signal(0, 'SIGSTOP');
      const stoppedAt = Date.now();
      assert.ok(await eventually(async () => (await statOf(zk, path)) === undefined, 20_000, 50), 'ZooKeeper expired the paused session and dropped its node');
      measured('expiry: node gone after SIGSTOP', Date.now() - stoppedAt);
      // While the process sleeps the kernel still completes handshakes and queues FINs: the live count moves.
      for (let i = 0; i < 5; i++) await open(srv!.port);
      for (const s of socks.slice(0, 3)) {
        closedByUs.add(s);
        await closeSocket(s);
      }
      const expected = 20 + 5 - 3;

      runner.signal(0, 'SIGCONT');
      const contAt = Date.now();
      const backAt = await whenTrue(async () => {
        const st = await statOf(zk, path);
        if (!st || st.ephemeralOwner === oldOwner) return false;
        return (await dataOf(zk, path))?.balance === expected;
      }, 20_000);
      assert.ok(backAt !== undefined, `node back with balance ${expected}`);
      measured('expiry: re-registered with the exact balance after SIGCONT', backAt - contAt);
      assert.ok(backAt - contAt <= REREGISTER_BOUND_MS, `re-registration took ${backAt - contAt} ms (target 2000, bound ${REREGISTER_BOUND_MS})`);

      assert.deepEqual(await zk.get_children(root, false), [srv!.id], 'one node, never a duplicate');
      assert.equal(dropped, 0, 'no client socket was dropped');
      const alive = socks.filter((s) => !closedByUs.has(s));
      assert.equal(alive.length, expected);
      assert.equal(socks.length - closedByUs.size, expected);
      const pingAll = async (round: number) => {
        const ids = await Promise.all(alive.map((s, i) => ping(s, round * 1000 + i)));
        assert.ok(ids.every((id) => id === srv!.id), `round ${round}: every kept socket answers`);
      };
      await pingAll(1);
      // The old handle was given up at once; it dies in the background (its next reconnect learns
      // the expiry). The native addon then touches a stale fd number: sockets must survive that too.
      assert.ok(await eventually(async () => (await runner.stats(0)).zk.abandoned === 0, 15_000, 50), 'the old handle has closed');
      await pingAll(2);
      for (const s of alive.splice(0, 2)) {
        closedByUs.add(s);
        await closeSocket(s);
      }
      alive.push(await open(srv!.port));
      assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === expected - 1), 'still exact afterwards');
      await pingAll(3);
      const st = await runner.stats(0);
      assert.equal(st.live, expected - 1);
      assert.ok(st.stats.reregistrations >= 1, 'counted as a re-registration');
    } finally {
      for (const s of socks) closedByUs.add(s);
      await Promise.all(socks.map(closeSocket));
    }
  }));

test('expiry - a server partitioned from ZooKeeper past its session timeout keeps serving old and new sockets, then re-registers exactly', async () => {
  const px = await startProxy(firstPort(connect));
  try {
    await withServer({ label: 'partition', server: { zk: `127.0.0.1:${px.port}`, sessionTimeoutMs: SESSION_TIMEOUT_MS } }, async ({ zk, root, server, open, sockets }) => {
      try {
        const path = server.nodePath!;
        for (let i = 0; i < 10; i++) await open();
        assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === 10));
        const oldOwner = (await statOf(zk, path))!.ephemeralOwner;

        await px.blackhole(true);
        const cutAt = Date.now();
        // While the handle times out and retries (closing and opening its socket again and again),
        // new clients keep arriving; every socket, old and new, must stay served.
        let seq = 0;
        while ((await statOf(zk, path)) !== undefined) {
          assert.ok(Date.now() - cutAt < 20_000, 'ZooKeeper expired the partitioned session');
          await open();
          const ids = await Promise.all(sockets.map((s) => ping(s, ++seq)));
          assert.ok(ids.every((id) => id === server.id));
          await new Promise((r) => setTimeout(r, 100));
        }
        measured('partition: node gone after the cut', Date.now() - cutAt);
        for (let i = 0; i < 3; i++) await open();
        const expected = sockets.length;
        await px.blackhole(false);
        const healAt = Date.now();
        const backAt = await whenTrue(async () => {
          const st = await statOf(zk, path);
          return st !== undefined && st.ephemeralOwner !== oldOwner && (await dataOf(zk, path))?.balance === expected;
        }, 20_000);
        assert.ok(backAt !== undefined, `re-registered with balance ${expected}`);
        measured('partition: re-registered with the exact balance after the heal', backAt - healAt);
        const ids = await Promise.all(sockets.map((s) => ping(s, ++seq)));
        assert.ok(ids.every((id) => id === server.id), 'every socket still served');
        assert.equal(server.connections.size, expected);
        assert.deepEqual(await zk.get_children(root, false), [server.id]);
      } finally {
        await px.blackhole(false); // the teardown removes the node through the proxy
      }
    });
  } finally {
    await px.close();
  }
});

test('expiry - a node left by an earlier session of ours is replaced, not duplicated', () =>
  withServer({ label: 'oldsession', server: { sessionTimeoutMs: SESSION_TIMEOUT_MS } }, async ({ zk, root, server, open }) => {
    let old: ZooKeeper | undefined;
    try {
      const path = server.nodePath!;
      for (let i = 0; i < 4; i++) await open();
      assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === 4));
      old = server.session.zk;
      const oldId = String(old.client_id);
      // What the native wrapper does after too many empty answers: 'close' -112 although the session
      // (and so our node) lives on at the server. The session object must replace the handle.
      const replaced = once(server.session, 'session');
      old.emit('close', old, -112);
      await replaced;
      const newId = server.session.sessionId!;
      assert.notEqual(newId, oldId);
      assert.ok(
        await eventually(async () => (await statOf(zk, path))?.ephemeralOwner === newId && (await dataOf(zk, path))?.balance === 4),
        'the old session node was replaced by one of the new session with the balance',
      );
      assert.deepEqual(await zk.get_children(root, false), [server.id]);
      old.close(); // the old session ends for real now; the new node must stay
      old = undefined;
      assert.equal((await statOf(zk, path))?.ephemeralOwner, newId);
      await open();
      assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === 5), 'later changes are written to the new node');
    } finally {
      old?.close();
    }
  }));

test('expiry - a node held by another live session is never replaced: the server waits for it to go', async () => {
  const { root, cleanup } = await freshRoot(zk, 'foreign');
  const foreign = await rawZk(connect);
  const id = 'taken-name';
  const path = `${root}/${id}`;
  const server = new ClusterServer({ zk: connect, root, id, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  let foreignOpen = true;
  try {
    await foreign.create(path, encodeServerData({ ip: '127.0.0.1', port: 1, balance: 77 }), C.ZOO_EPHEMERAL);
    const conflict = new Promise<Error>((r) => server.once('error', r));
    const listening = server.listen();
    const err = await conflict;
    assert.ok(err instanceof NodeConflictError, String(err));
    assert.equal(err.owner, String(foreign.client_id));
    assert.equal((await statOf(zk, path))?.ephemeralOwner, String(foreign.client_id), 'the foreign node is untouched');
    assert.equal((await dataOf(zk, path))?.balance, 77);
    foreign.close();
    foreignOpen = false;
    await listening;
    assert.equal((await statOf(zk, path))?.ephemeralOwner, server.session.sessionId, 'registered once the name was free');
    assert.equal((await dataOf(zk, path))?.balance, 0);
  } finally {
    if (foreignOpen) foreign.close();
    await server.close();
    await cleanup();
  }
});

test('expiry - a node deleted behind the server is re-created with the live balance', () =>
  withServer({ label: 'deleted', server: { sessionTimeoutMs: SESSION_TIMEOUT_MS } }, async ({ zk, server, open }) => {
    const path = server.nodePath!;
    for (let i = 0; i < 3; i++) await open();
    assert.ok(await eventually(async () => (await dataOf(zk, path))?.balance === 3));
    await zk.delete_(path, -1);
    await open(); // the next write finds NONODE
    assert.ok(
      await eventually(async () => (await statOf(zk, path))?.ephemeralOwner === server.session.sessionId && (await dataOf(zk, path))?.balance === 4),
      're-created with balance 4',
    );
    assert.ok(server.stats.reregistrations >= 1);
  }));

test('session - start() while an expired handle is being replaced waits for that replacement (one handle)', async () => {
  const session = new ZkSession({ connect, sessionTimeoutMs: SESSION_TIMEOUT_MS });
  const handles: ZooKeeper[] = [];
  session.on('session', (h) => handles.push(h));
  try {
    await session.start();
    let fromStart: Promise<ZooKeeper> | undefined;
    let fromStart2: Promise<ZooKeeper> | undefined;
    session.once('expired', () => {
      fromStart = session.start();
      fromStart2 = session.start();
    });
    assert.equal(await expireSession(session.zk, connect), C.ZSESSIONEXPIRED);
    assert.ok(fromStart && fromStart2, "start() was called from the 'expired' listener");
    const [a, b] = await Promise.all([fromStart, fromStart2]);
    assert.equal(a, b);
    assert.equal(handles.length, 2, 'one initial handle and exactly one replacement');
    assert.equal(a, handles[1]);
    assert.equal(session.zk, a);
    assert.deepEqual(await a.get_children('/', false).then(() => true), true, 'the replacement works');
  } finally {
    session.close();
    for (const h of handles) h.close(); // a second handle (the bug) would otherwise keep the process alive
  }
});
