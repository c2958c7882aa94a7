import { test } from 'node:test';
import assert from 'node:assert/strict';
import type ZooKeeper from 'zookeeper';
import { LoginError, GatewayUnavailableError, InvalidArgumentError } from '../../src/errors.js';
import { MessagingServer } from '../../src/messaging/messaging-server.js';
import { Router } from '../../src/messaging/router.js';
import { gatewayProof } from '../../src/messaging/gateway/gateway-auth.js';
import { issueToken, checkToken } from '../../src/messaging/token.js';
import { routesRootOf } from '../../src/messaging/routes/route.js';
import { encodeShard } from '../../src/messaging/routes/shard-codec.js';
import { C } from '../../src/zk/codes.js';
import { NativeZkClient } from '../../src/zk/zk-client.js';
import { closeMessaging, loginOn, rawPeer, routeIs, startMessagingServers, userClient } from '../helpers/messaging.js';
import { freshRoot, useTestZk } from '../helpers/zk.js';
import { eventually } from '../helpers/eventually.js';

let zk: ZooKeeper;
let connect: string;
useTestZk((z, c) => ((zk = z), (connect = c)));

const SECRET = 'test-secret-0123456789';

test('messaging security - tokens: issued ones log in; wrong, expired, missing and other-user tokens are refused with stable codes and no route', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-tokens');
  const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET });
  const push = new Router({ zk: connect, root, secret: SECRET });
  try {
    await push.start();
    const ok = await loginOn(server!, { user: 'carol', token: issueToken(SECRET, 'carol', 60_000) });
    assert.ok(await routeIs([push], 'carol', server!.id));
    assert.equal((await push.push('carol', 'signed')).server, server!.id);
    const cases: [string, string | undefined, string][] = [
      ['missing', undefined, 'FULCRUM_TOKEN_MISSING'],
      ['garbage', 'not-a-token', 'FULCRUM_TOKEN_INVALID'],
      ['other secret', issueToken('another-secret', 'dave', 60_000), 'FULCRUM_TOKEN_INVALID'],
      ['expired', issueToken(SECRET, 'dave', 1_000, Date.now() - 5_000), 'FULCRUM_TOKEN_EXPIRED'],
      ['for another user', issueToken(SECRET, 'carol', 60_000), 'FULCRUM_TOKEN_WRONG_USER'],
      ['tampered', issueToken(SECRET, 'dave', 60_000).replace(/^./, (c) => (c === 'e' ? 'f' : 'e')), 'FULCRUM_TOKEN_INVALID'],
    ];
    for (const [what, token, code] of cases) {
      const u = userClient(server!);
      await assert.rejects(u.client.connect({ user: 'dave', ...(token !== undefined ? { token } : {}) }), (e: unknown) => e instanceof LoginError && e.code === code, what);
      const raw = await rawPeer(server!.endpoint!.port);
      raw.send({ type: 'login', user: 'dave', ...(token !== undefined ? { token } : {}) });
      await raw.closed;
      assert.deepEqual((raw.frames[0] as { type: string; code: string }), { type: 'error', code, message: (raw.frames[0] as { message: string }).message }, what);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(push.route('dave'), undefined, 'no route for refused logins');
    assert.equal(server!.userCount, 1);
    assert.equal(ok.client.isConnected, true);
    await ok.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging security - checkToken: a JWT (HS256) whose expiry is checked against the clock and whose signature covers header and claims', async () => {
  const t = issueToken(SECRET, 'eve', 1_000, 10_000);
  const [header, claims, mac] = t.split('.') as [string, string, string];
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  assert.deepEqual(JSON.parse(Buffer.from(claims, 'base64url').toString()), { sub: 'eve', iat: 10, exp: 11 });
  assert.equal(await checkToken(SECRET, 'eve', t, 10_500), undefined);
  assert.equal(await checkToken(SECRET, 'eve', t, 11_000), 'FULCRUM_TOKEN_EXPIRED');
  assert.equal(await checkToken(SECRET + 'x', 'eve', t, 10_500), 'FULCRUM_TOKEN_INVALID');
  assert.equal(await checkToken(SECRET, 'mallory', t, 10_500), 'FULCRUM_TOKEN_WRONG_USER');
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  assert.equal(await checkToken(SECRET, 'eve', `${header}.${enc({ sub: 'eve', exp: 99_999_999 })}.${mac}`, 10_500), 'FULCRUM_TOKEN_INVALID');
  assert.equal(await checkToken(SECRET, 'eve', `${header}.${claims}.`, 10_500), 'FULCRUM_TOKEN_INVALID');
  assert.equal(await checkToken(SECRET, 'eve', `${enc({ alg: 'none', typ: 'JWT' })}.${claims}.`, 10_500), 'FULCRUM_TOKEN_INVALID', 'alg none is refused');
  assert.throws(() => issueToken('', 'eve'), InvalidArgumentError);
});

test('messaging security - the gateway closes a peer that does not prove the secret before it can deliver anything', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-gw');
  const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET });
  try {
    const victim = await loginOn(server!, { user: 'frank', token: issueToken(SECRET, 'frank', 60_000) });
    const gw = server!.gatewayEndpoint!;
    const deliver = { type: 'deliver', rid: 1, user: 'frank', id: 'evil', body: 'evil' };
    // 1: no auth at all, straight to a delivery.
    const a = await rawPeer(gw.port);
    a.send(deliver);
    await a.closed;
    // 2: auth with a wrong proof, then a delivery.
    const b = await rawPeer(gw.port);
    await eventually(() => b.frames.length > 0);
    b.send({ type: 'auth', proof: gatewayProof('wrong', (b.frames[0] as { nonce: string }).nonce) });
    b.send(deliver);
    await b.closed;
    // 3: auth without a proof.
    const c = await rawPeer(gw.port);
    c.send({ type: 'auth' });
    c.send(deliver);
    await c.closed;
    for (const p of [a, b, c]) {
      const types = (p.frames as { type: string; code?: string }[]).map((f) => f.type);
      assert.deepEqual(types, ['hello', 'error']);
      assert.equal((p.frames[1] as { code: string }).code, 'FULCRUM_GATEWAY_AUTH');
    }
    // A Router without the secret is refused too.
    const noSecret = new Router({ zk: connect, root });
    await noSecret.start();
    await routeIs([noSecret], 'frank', server!.id);
    await assert.rejects(noSecret.push('frank', 'x'), (e: unknown) => e instanceof GatewayUnavailableError);
    noSecret.close();
    // The right proof works.
    const d = await rawPeer(gw.port);
    await eventually(() => d.frames.length > 0);
    d.send({ type: 'auth', proof: gatewayProof(SECRET, (d.frames[0] as { nonce: string }).nonce) });
    d.send({ ...deliver, id: 'fine', body: 'fine' });
    assert.ok(await eventually(() => d.frames.length === 3));
    assert.deepEqual((d.frames as { type: string }[]).map((f) => f.type), ['hello', 'ready', 'result']);
    d.socket.destroy();
    assert.deepEqual(victim.messages.map((m) => m.body), ['fine'], 'only the authenticated delivery arrived');
    assert.ok(server!.stats.gatewayRefused >= 4);
    await victim.client.disconnect();
  } finally {
    await closeMessaging([server!]);
    await cleanup();
  }
});

test('messaging security - without a secret the gateway must stay on loopback', () => {
  assert.throws(() => new MessagingServer({ zk: '127.0.0.1:1', gatewayHost: '0.0.0.0' }), InvalidArgumentError);
  assert.doesNotThrow(() => new MessagingServer({ zk: '127.0.0.1:1', gatewayHost: '0.0.0.0', secret: SECRET }).session.close());
});

test('messaging security - with a digest, nobody without the credentials can add or overwrite route shards', async () => {
  const { root, cleanup } = await freshRoot(zk, 'msg-acl');
  const digest = 'fulcrum:acl-secret';
  const [server] = await startMessagingServers(1, { zk: connect, root, digest });
  const push = new Router({ zk: connect, root });
  try {
    const u = await loginOn(server!, { user: 'grace' });
    await push.start();
    assert.ok(await routeIs([push], 'grace', server!.id));
    const routes = routesRootOf(root);
    const foreign = NativeZkClient.of(zk);
    const fake = encodeShard({ server: 'evil', users: new Map([['grace', [Date.now() + 60_000, 1] as const]]) });
    const noAuth = (e: unknown) => (e as { zkCode?: number }).zkCode === C.ZNOAUTH;
    await assert.rejects(foreign.create(`${routes}/evil#0`, fake, C.ZOO_PERSISTENT), noAuth, 'no fake shard under the routes root');
    const [shard] = (await foreign.children(routes)).filter((n) => n.startsWith(server!.id));
    await assert.rejects(foreign.set(`${routes}/${shard}`, fake, -1), noAuth, 'no overwrite of a real shard');
    await assert.rejects(foreign.delete(`${routes}/${shard}`, -1), noAuth, 'no delete of a real shard');
    assert.equal((await push.push('grace', 'still mine')).server, server!.id);
    assert.equal(u.kicked.length, 0);
    await u.client.disconnect();
  } finally {
    push.close();
    await closeMessaging([server!]);
    await cleanup().catch(() => {});
  }
});
