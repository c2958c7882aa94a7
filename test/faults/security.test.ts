import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import type ZooKeeper from 'zookeeper';
import { FulcrumError } from '../../src/errors.js';
import { digestId } from '../../src/registry/registration.js';
import { ClusterServer } from '../../src/server/cluster-server.js';
import { encodeServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { NativeZkClient, zkCodeOf } from '../../src/zk/zk-client.js';
import { connectZk } from '../../src/zk/connect.js';
import { deleteTree, mkdirp } from '../../src/zk/paths.js';
import { pidsWithArg, startCli } from '../helpers/cli.js';
import { expireSession } from '../helpers/expire-session.js';
import { rawZk, testZk } from '../helpers/zk.js';
import { randomBytes } from 'node:crypto';
import { eventually } from '../helpers/eventually.js';
import { dataOf, statOf } from '../helpers/nodes.js';
import { closeSocket, openSocket } from '../helpers/socket.js';

const DIGEST = 'fulcrum:s3cret-' + randomBytes(4).toString('hex');

let anon: ZooKeeper;
let admin: ZooKeeper;
let connect: string;
before(async () => {
  connect = await testZk();
  anon = await rawZk(connect);
  admin = await connectZk({ connect, digest: DIGEST, sessionTimeoutMs: 4_000 });
});
after(() => {
  anon.close();
  admin.close();
});

/** A fresh base path; cleanup runs with the credentials (the root is locked by then). */
async function securedRoot(label: string): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const base = `/fulcrum-test/${label}-${randomBytes(4).toString('hex')}`;
  const root = `${base}/servers`;
  await mkdirp(NativeZkClient.of(admin), base);
  return { root, cleanup: () => deleteTree(NativeZkClient.of(admin), base) };
}

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 0;
  } catch (e) {
    return zkCodeOf(e);
  }
}

interface Acl {
  perms: number;
  scheme: string;
  auth: string;
}

async function aclOf(zk: ZooKeeper, path: string): Promise<Acl[]> {
  const res = (await zk.get_acl(path)) as unknown as [Acl[], unknown];
  return res[0].map((a) => ({ perms: a.perms, scheme: a.scheme, auth: a.auth })).sort((a, b) => a.scheme.localeCompare(b.scheme));
}

const EXPECTED_ACL: Acl[] = [
  { perms: C.ZOO_PERM_ALL, scheme: 'digest', auth: digestId(DIGEST) },
  { perms: C.ZOO_PERM_READ, scheme: 'world', auth: 'anyone' },
];

test('security - with a digest, clients without the credentials get NOAUTH on set and delete, the data is untouched, everyone reads', async () => {
  const { root, cleanup } = await securedRoot('sec');
  const server = new ClusterServer({ zk: connect, root, digest: DIGEST, sessionTimeoutMs: 3_000 });
  const mallory = await connectZk({ connect, digest: 'mallory:guess', sessionTimeoutMs: 4_000 });
  const socks: net.Socket[] = [];
  try {
    await server.listen();
    const path = server.nodePath!;
    for (let i = 0; i < 3; i++) socks.push(await openSocket(server.endpoint!.port));
    assert.ok(await eventually(async () => (await dataOf(anon, path))?.balance === 3), 'anyone reads the exact balance');
    assert.deepEqual(await aclOf(admin, path), EXPECTED_ACL, 'node ACL: world READ + our digest ALL');
    assert.deepEqual(await aclOf(admin, root), EXPECTED_ACL, 'root ACL: the same, so nobody else creates or deletes');
    // ZooKeeper hides the password hash from clients without ADMIN permission.
    assert.equal((await aclOf(anon, path))[0]!.auth, `${DIGEST.split(':')[0]}:x`);
    assert.deepEqual(await anon.get_children(root, false), [server.id]);
    const before = await statOf(anon, path);

    const fake = encodeServerData({ ip: '127.0.0.1', port: 1, balance: 999 });
    for (const zk of [anon, mallory]) {
      assert.equal(await codeOf(zk.set(path, fake, -1)), C.ZNOAUTH, 'set');
      assert.equal(await codeOf(zk.delete_(path, -1)), C.ZNOAUTH, 'delete');
      assert.equal(await codeOf(zk.set_acl(path, -1, [{ perms: C.ZOO_PERM_ALL, scheme: 'world', auth: 'anyone' }])), C.ZNOAUTH, 'set_acl');
      assert.equal(await codeOf(zk.create(`${root}/intruder`, fake, C.ZOO_EPHEMERAL)), C.ZNOAUTH, 'create under the root');
      assert.equal(await codeOf(zk.set_acl(root, -1, [{ perms: C.ZOO_PERM_ALL, scheme: 'world', auth: 'anyone' }])), C.ZNOAUTH, 'set_acl on the root');
    }
    const afterAttack = await statOf(anon, path);
    assert.equal(afterAttack?.version, before?.version, 'data version untouched');
    assert.equal(afterAttack?.aversion, before?.aversion, 'ACL version untouched');
    assert.equal((await dataOf(anon, path))?.balance, 3);
    assert.deepEqual(await anon.get_children(root, false), [server.id]);

    // A new session (after expiry) re-creates a protected node with the current balance.
    const oldOwner = before!.ephemeralOwner;
    socks.push(await openSocket(server.endpoint!.port));
    await expireSession(server.session.zk, connect);
    assert.ok(
      await eventually(async () => {
        const st = await statOf(anon, path);
        return st !== undefined && st.ephemeralOwner !== oldOwner && (await dataOf(anon, path))?.balance === 4;
      }, 15_000),
      're-registered after expiry with balance 4',
    );
    assert.deepEqual(await aclOf(admin, path), EXPECTED_ACL, 'the re-created node is protected too');
    assert.equal(await codeOf(anon.set(path, fake, -1)), C.ZNOAUTH);

    // The owner itself can still leave discovery cleanly.
    await Promise.all(socks.map(closeSocket));
    await server.close();
    assert.equal(await statOf(anon, path), undefined, 'graceful close deleted the node');
  } finally {
    mallory.close();
    await Promise.all(socks.map(closeSocket));
    await server.close();
    await cleanup();
  }
});

test('security - a server with other credentials, or none, cannot register under a protected root', async () => {
  const { root, cleanup } = await securedRoot('sec-lock');
  const owner = new ClusterServer({ zk: connect, root, digest: DIGEST });
  const other = new ClusterServer({ zk: connect, root, digest: 'other:pw' });
  const none = new ClusterServer({ zk: connect, root });
  try {
    await owner.listen();
    await assert.rejects(other.listen(), (e: unknown) => e instanceof FulcrumError && e.code === 'FULCRUM_ZK_NOAUTH');
    await assert.rejects(none.listen(), (e: unknown) => zkCodeOf(e) === C.ZNOAUTH);
    assert.deepEqual(await anon.get_children(root, false), [owner.id]);
    assert.throws(() => new ClusterServer({ zk: connect, root, digest: 'no-colon' }), /digest must be user:password/);
  } finally {
    await Promise.all([owner.close(), other.close(), none.close()]);
    await cleanup();
  }
});

test('security - `npm run servers` takes the digest from FULCRUM_DIGEST and keeps it off every command line', async () => {
  const { root, cleanup } = await securedRoot('sec-cli');
  const secret = DIGEST.split(':')[1]!;
  const cli = startCli('servers', ['--zk', connect, '--root', root, '--count', '2'], { env: { FULCRUM_DIGEST: DIGEST }, timeoutMs: 60_000 });
  try {
    await cli.waitForStdout(/2 servers registered under .*\(digest ACLs\)/, 30_000);
    const names: string[] = await anon.get_children(root, false);
    assert.equal(names.length, 2);
    for (const n of names) {
      assert.deepEqual(await aclOf(admin, `${root}/${n}`), EXPECTED_ACL);
      assert.equal(await codeOf(anon.set(`${root}/${n}`, Buffer.from('x'), -1)), C.ZNOAUTH);
    }
    assert.deepEqual(pidsWithArg(secret), [], 'the secret is on no command line');
    cli.kill('SIGTERM');
    const r = await cli.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await anon.get_children(root, false), [], 'both nodes deleted on shutdown');
    const bad = await startCli('servers', ['--zk', connect, '--root', root, '--count', '1'], { env: { FULCRUM_DIGEST: 'nocolon' } }).exited;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /must be user:password/);
  } finally {
    cli.kill('SIGKILL');
    await cli.exited;
    await cleanup();
  }
});
