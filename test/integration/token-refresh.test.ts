import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import { RequestRefusedError } from '../../src/errors.js';
import type { EndReason } from '../../src/messaging/sessions/client-session.js';
import { issueToken } from '../../src/messaging/token.js';
import { eventually } from '../helpers/eventually.js';
import { closeMessaging, loginOn, startMessagingServers, userClient } from '../helpers/messaging.js';
import { rawClient } from '../helpers/raw-client.js';
import { withRoot } from '../helpers/zk.js';

const SECRET = 'refresh-secret-7c1';

test('tokens - a token refreshed on the live connection keeps it past the first expiry; an unrefreshed one is kicked expired after the grace period', async () => {
  await withRoot('refresh', async ({ connect, root }) => {
    const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET, tokenGraceMs: 1_000 });
    const logouts: [string, EndReason][] = [];
    server!.on('logout', (e) => logouts.push([e.user, e.reason]));
    const t0 = Date.now();
    let calls = 0;
    // The first token of both users expires in the same second: the kick of the stale one is the barrier for the other.
    const fresh = userClient(server!, { reconnect: false });
    const refreshed: (number | undefined)[] = [];
    fresh.client.on('refreshed', (at) => refreshed.push(at));
    const stale = userClient(server!, { reconnect: false });
    try {
      await fresh.client.connect({ user: 'fresh', token: () => (calls++ === 0 ? issueToken(SECRET, 'fresh', 3_000, t0) : issueToken(SECRET, 'fresh', 60_000)) });
      await stale.client.connect({ user: 'stale', token: issueToken(SECRET, 'stale', 3_000, t0) });
      const firstExpiry = fresh.client.tokenExpiresAt!;
      assert.equal(firstExpiry, Math.floor((t0 + 3_000) / 1000) * 1000, 'welcome says when the token expires');
      assert.equal(stale.client.tokenExpiresAt, firstExpiry);

      assert.equal(await eventually(() => stale.kicked.length > 0, 15_000), true, 'the stale login is kicked');
      assert.deepEqual(stale.kicked, ['expired']);
      assert.ok(Date.now() >= firstExpiry + 1_000, 'not before the grace period ran out');
      // Barrier on the refreshed connection: it answers, and nothing was kicked there.
      await fresh.client.join('after-expiry');
      assert.deepEqual(fresh.kicked, []);
      assert.equal(fresh.client.isConnected, true);
      assert.equal(refreshed.length >= 1 && refreshed[0]! > firstExpiry, true, `refreshed to a later expiry: ${refreshed}`);
      assert.equal(fresh.client.tokenExpiresAt, refreshed.at(-1));
      assert.deepEqual(logouts, [['stale', 'expired']]);
      assert.equal(server!.stats.expiredKicks, 1);
    } finally {
      await fresh.client.disconnect();
      await stale.client.disconnect();
      await closeMessaging([server!]);
    }
  });
});

test('tokens - a refused refresh answers error {refresh:true} and the connection stays; a server without keys answers refreshed {}', async () => {
  await withRoot('refresh-bad', async ({ connect, root }) => {
    const [secured, open] = await Promise.all([
      startMessagingServers(1, { zk: connect, root, secret: SECRET }).then((s) => s[0]!),
      startMessagingServers(1, { zk: connect, root: `${root}-open` }).then((s) => s[0]!),
    ]);
    try {
      const c = await rawClient(secured.endpoint!.port);
      c.send({ type: 'login', user: 'ann', token: issueToken(SECRET, 'ann', 60_000) });
      await c.next((f) => f.type === 'welcome');
      c.send(
        { type: 'refresh', token: issueToken(SECRET, 'bob', 60_000) },
        { type: 'refresh', token: issueToken(SECRET, 'ann', 1_000, Date.now() - 5_000) },
        { type: 'refresh', token: issueToken(`${SECRET}x`, 'ann', 60_000) },
        { type: 'refresh', token: issueToken(SECRET, 'ann', 120_000) },
        { type: 'ping', seq: 1 },
      );
      await c.next((f) => f.type === 'pong');
      assert.deepEqual(
        c.frames.slice(1).map((f) => [f.type, f.code ?? null, f.refresh ?? null]),
        [['error', 'FULCRUM_TOKEN_WRONG_USER', true], ['error', 'FULCRUM_TOKEN_EXPIRED', true], ['error', 'FULCRUM_TOKEN_INVALID', true], ['refreshed', null, null], ['pong', null, null]],
      );
      assert.ok((c.frames[4]!.expiresAt as number) > Date.now() + 100_000);
      assert.equal(secured.stats.refreshRefused, 3);
      // A refresh before login is like any frame before login.
      const early = await rawClient(secured.endpoint!.port);
      early.send({ type: 'refresh', token: 'x' });
      await early.closed;
      assert.equal(early.frames[0]!.code, 'FULCRUM_NOT_LOGGED_IN');

      const o = await rawClient(open.endpoint!.port);
      o.send({ type: 'login', user: 'ann' }, { type: 'refresh', token: 'anything' });
      await o.next((f) => f.type === 'refreshed');
      assert.deepEqual(o.frames, [{ type: 'welcome', user: 'ann', server: open.id }, { type: 'refreshed' }]);
      c.socket.destroy();
      o.socket.destroy();

      // The library client: refresh() rejects with the server's code and stays connected.
      const u = await loginOn(secured, { user: 'cid', token: issueToken(SECRET, 'cid', 60_000) });
      await assert.rejects(u.client.refresh(issueToken(SECRET, 'eve', 60_000)), (e: unknown) => e instanceof RequestRefusedError && e.code === 'FULCRUM_TOKEN_WRONG_USER');
      const at = await u.client.refresh(issueToken(SECRET, 'cid', 90_000));
      assert.equal(at, u.client.tokenExpiresAt);
      assert.equal(u.client.isConnected, true);
      await u.client.disconnect();
    } finally {
      await closeMessaging([secured, open]);
    }
  });
});

test('tokens - key rotation: tokens of every configured kid and of the secret log in, an unknown kid does not; an old key keeps its logins until they expire; a JWT minted with jose is accepted', async () => {
  await withRoot('rotation', async ({ connect, root }) => {
    const keys = { '2026-11': 'old-key-aaaa', '2026-12': 'new-key-bbbb' };
    const [server] = await startMessagingServers(1, { zk: connect, root, secret: SECRET, tokenKeys: keys, tokenGraceMs: 0 });
    try {
      const login = async (user: string, token: string) => {
        const c = await rawClient(server!.endpoint!.port);
        c.send({ type: 'login', user, token });
        const answer = await c.next((f) => f.type === 'welcome' || f.type === 'error');
        return { c, answer };
      };
      const old = await login('o', issueToken({ kid: '2026-11', secret: keys['2026-11'] }, 'o', 2_000));
      assert.equal(old.answer.type, 'welcome');
      assert.equal((await login('n', issueToken({ kid: '2026-12', secret: keys['2026-12'] }, 'n', 60_000))).answer.type, 'welcome');
      assert.equal((await login('s', issueToken(SECRET, 's', 60_000))).answer.type, 'welcome');
      assert.equal((await login('x', issueToken({ kid: '2025-01', secret: keys['2026-11'] }, 'x', 60_000))).answer.code, 'FULCRUM_TOKEN_INVALID');
      assert.equal((await login('y', issueToken({ kid: '2026-12', secret: keys['2026-11'] }, 'y', 60_000))).answer.code, 'FULCRUM_TOKEN_INVALID', 'a kid with the wrong key');
      // What an application's backend would mint with any JWT library.
      const minted = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: '2026-12' }).setSubject('app').setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(keys['2026-12']));
      assert.equal((await login('app', minted)).answer.type, 'welcome');
      // The old key's login lives until its token expires, then it is kicked like any other.
      await old.c.next((f) => f.type === 'kicked');
      assert.deepEqual(old.c.frames.at(-1), { type: 'kicked', reason: 'expired' });
    } finally {
      await closeMessaging([server!]);
    }
  });
});
