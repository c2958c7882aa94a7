import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { LoginError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { errorCode, openEvents, request, type HttpAnswer } from '../helpers/alloc-fixture.js';
import { startMessagingAlloc } from '../helpers/alloc-messaging.js';
import { loginOn, rawPeer, routeIs } from '../helpers/messaging.js';
import { eventually } from '../helpers/eventually.js';

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => request(url, { method: 'POST', body, headers });

function failure(a: HttpAnswer): { status: number; code: string | undefined } {
  return { status: a.status, code: errorCode(a) };
}

test('alloc messaging - POST /push answers once the client acked; 404 offline, 504 not acked, a list gets one result per user', async () => {
  const f = await startMessagingAlloc({ servers: 2, label: 'am-push' });
  try {
    const [s0, s1] = f.servers;
    const alice = await loginOn(s0!, { user: 'alice' });
    const mute = await rawPeer(s1!.endpoint!.port);
    mute.send({ type: 'login', user: 'mute' }); // logs in, never acks
    assert.ok(await routeIs([f.service.push], 'alice', s0!.id));
    assert.ok(await routeIs([f.service.push], 'mute', s1!.id));

    const ok = await post(`${f.url}push`, { user: 'alice', message: { hello: 'world' } });
    assert.equal(ok.status, 200, ok.text);
    const r = ok.json<{ delivered: boolean; acked: boolean; server: string; id: string }>();
    assert.deepEqual({ ...r, id: typeof r.id }, { delivered: true, acked: true, server: s0!.id, id: 'string' });
    assert.deepEqual(alice.messages, [{ id: r.id, body: { hello: 'world' } }]);

    assert.deepEqual(failure(await post(`${f.url}push`, { user: 'nobody', message: 1 })), { status: 404, code: 'FULCRUM_USER_OFFLINE' });
    assert.deepEqual(failure(await post(`${f.url}push`, { user: 'mute', message: 'wait', ackTimeoutMs: 200 })), { status: 504, code: 'FULCRUM_PUSH_TIMEOUT' });
    assert.deepEqual(
      mute.frames.filter((m) => (m as { type: string }).type === 'message').map((m) => (m as { body: unknown }).body),
      ['wait'],
      'the unacked message was written to the connection',
    );

    // Long enough for alice's ack on a loaded machine; mute never acks.
    const many = await post(`${f.url}push`, { users: ['alice', 'mute', 'nobody'], message: 'all', ackTimeoutMs: 1_500 });
    assert.equal(many.status, 200, many.text);
    const m = many.json<{ total: number; acked: number; results: { user: string; delivered: boolean; acked: boolean; server?: string; error?: { code: string } }[] }>();
    assert.equal(m.total, 3);
    assert.equal(m.acked, 1);
    assert.deepEqual(
      m.results.map((x) => [x.user, x.delivered, x.acked, x.server ?? null, x.error?.code ?? null]),
      [
        ['alice', true, true, s0!.id, null],
        ['mute', true, false, s1!.id, 'FULCRUM_PUSH_TIMEOUT'],
        ['nobody', false, false, null, 'FULCRUM_USER_OFFLINE'],
      ],
    );
    assert.deepEqual(alice.messages.map((x) => x.body), [{ hello: 'world' }, 'all']);
    mute.socket.destroy();
    await alice.client.disconnect();
  } finally {
    await f.close();
  }
});

test('alloc messaging - publish and broadcast answer {servers, recipients} and reach exactly the members / every online user once', async () => {
  const f = await startMessagingAlloc({ servers: 2, label: 'am-fanout' });
  try {
    const users = await Promise.all([0, 1, 2].map((i) => loginOn(f.servers[i % 2]!, { user: `u${i}` })));
    await users[0]!.client.join('news');
    await users[1]!.client.join('news');
    for (const i of [0, 1, 2]) assert.ok(await routeIs([f.service.push], `u${i}`, f.servers[i % 2]!.id));

    const pub = await post(`${f.url}rooms/news/publish`, { message: 'headline' });
    assert.equal(pub.status, 200, pub.text);
    assert.deepEqual(pub.json(), { room: 'news', servers: 2, recipients: 2 });
    const all = await post(`${f.url}broadcast`, { message: { all: true } });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json(), { servers: 2, recipients: 3 });

    assert.ok(await eventually(() => users[0]!.messages.length === 2 && users[1]!.messages.length === 2 && users[2]!.messages.length === 1));
    await new Promise((r) => setTimeout(r, 100)); // nothing arrives twice
    assert.deepEqual(users.map((u) => u.messages.map((m) => m.body)), [['headline', { all: true }], ['headline', { all: true }], [{ all: true }]]);
    assert.deepEqual(users[0]!.messages[0]!.room, 'news');
    await Promise.all(users.map((u) => u.client.disconnect()));
  } finally {
    await f.close();
  }
});

test('alloc messaging - GET /online filters by prefix and limit, GET /online/{user} is its route, DELETE kicks it', async () => {
  const f = await startMessagingAlloc({ servers: 2, label: 'am-online' });
  const events = await openEvents(`${f.url}events`);
  try {
    const names = ['a1', 'a2', 'b1'];
    const users = await Promise.all(names.map((u, i) => loginOn(f.servers[i % 2]!, { user: u })));
    for (const [i, u] of names.entries()) assert.ok(await routeIs([f.service.push], u, f.servers[i % 2]!.id));
    await events.waitFor<{ online: { total: number } }>((e) => e.online.total === 3);

    const all = (await request(`${f.url}online`)).json<{ total: number; users: { user: string; server: string; since: number }[] }>();
    assert.equal(all.total, 3);
    assert.deepEqual(all.users.map((u) => [u.user, u.server]), names.map((u, i) => [u, f.servers[i % 2]!.id]));
    assert.ok(all.users.every((u) => Number.isInteger(u.since) && u.since > Date.now() - 60_000));
    const a = (await request(`${f.url}online?prefix=a`)).json<{ total: number; users: { user: string }[] }>();
    assert.deepEqual([a.total, a.users.map((u) => u.user)], [2, ['a1', 'a2']]);
    const one = (await request(`${f.url}online?limit=1`)).json<{ total: number; users: { user: string }[] }>();
    assert.deepEqual([one.total, one.users.map((u) => u.user)], [3, ['a1']]);

    assert.match((await request(`${f.url}metrics`)).text, /^fulcrum_online_users 3$/m);
    const route = await request(`${f.url}online/a2`);
    assert.equal(route.status, 200);
    assert.deepEqual({ ...route.json<object>(), since: 0 }, { user: 'a2', server: f.servers[1]!.id, since: 0 });
    assert.deepEqual(failure(await request(`${f.url}online/zz`)), { status: 404, code: 'FULCRUM_USER_OFFLINE' });

    const kick = await request(`${f.url}online/a1`, { method: 'DELETE' });
    assert.equal(kick.status, 200, kick.text);
    assert.deepEqual(kick.json(), { user: 'a1', kicked: true, server: f.servers[0]!.id });
    assert.ok(await eventually(() => users[0]!.kicked.length === 1));
    assert.deepEqual(users[0]!.kicked, ['kicked']);
    assert.ok(await routeIs([f.service.push], 'a1', undefined), 'the route disappears');
    assert.deepEqual(failure(await request(`${f.url}online/a1`)), { status: 404, code: 'FULCRUM_USER_OFFLINE' });
    assert.deepEqual(failure(await request(`${f.url}online/a1`, { method: 'DELETE' })), { status: 404, code: 'FULCRUM_USER_OFFLINE' });
    await events.waitFor<{ online: { total: number } }>((e) => e.online.total === 2);
    assert.deepEqual((await request(`${f.url}online`)).json<{ users: { user: string }[] }>().users.map((u) => u.user), ['a2', 'b1']);
    assert.deepEqual([users[1]!.kicked, users[2]!.kicked], [[], []]);
    assert.match((await request(`${f.url}metrics`)).text, /^fulcrum_alloc_http_requests_total\{route="\/online\/\{user\}",status="404"\} 3$/m);
    await Promise.all(users.map((u) => u.client.disconnect()));
  } finally {
    events.close();
    await f.close();
  }
});

test('alloc messaging - bad requests get 400/405/413/415 JSON and nothing is sent', async () => {
  const f = await startMessagingAlloc({ servers: 1, label: 'am-bad' });
  try {
    const alice = await loginOn(f.servers[0]!, { user: 'alice' });
    await alice.client.join('r');
    assert.ok(await routeIs([f.service.push], 'alice', f.servers[0]!.id));
    const long = 'x'.repeat(129);
    const wide = 'é'.repeat(65); // 65 characters, 130 bytes
    const cases: [string, Promise<HttpAnswer>, number][] = [
      ['push as text/plain', request(`${f.url}push`, { method: 'POST', body: '{"user":"alice","message":1}', headers: { 'content-type': 'text/plain' } }), 415],
      ['push without content-type', request(`${f.url}push`, { method: 'POST', body: Buffer.from('{"user":"alice","message":1}'), headers: { 'content-type': '' } }), 415],
      ['push not JSON', request(`${f.url}push`, { method: 'POST', body: '{"user":', headers: { 'content-type': 'application/json' } }), 400],
      ['push array', post(`${f.url}push`, [{ user: 'alice', message: 1 }]), 400],
      ['push empty', post(`${f.url}push`, {}), 400],
      ['push empty user', post(`${f.url}push`, { user: '', message: 1 }), 400],
      ['push user 129 bytes', post(`${f.url}push`, { user: long, message: 1 }), 400],
      ['push user 130 UTF-8 bytes', post(`${f.url}push`, { user: wide, message: 1 }), 400],
      ['push user number', post(`${f.url}push`, { user: 7, message: 1 }), 400],
      ['push no message', post(`${f.url}push`, { user: 'alice' }), 400],
      ['push user and users', post(`${f.url}push`, { user: 'alice', users: ['alice'], message: 1 }), 400],
      ['push empty users', post(`${f.url}push`, { users: [], message: 1 }), 400],
      ['push users twice', post(`${f.url}push`, { users: ['alice', 'alice'], message: 1 }), 400],
      ['push users bad entry', post(`${f.url}push`, { users: ['alice', ''], message: 1 }), 400],
      ['push users not array', post(`${f.url}push`, { users: 'alice', message: 1 }), 400],
      ['push unknown field', post(`${f.url}push`, { user: 'alice', message: 1, priority: 9 }), 400],
      ['push ackTimeoutMs 0', post(`${f.url}push`, { user: 'alice', message: 1, ackTimeoutMs: 0 }), 400],
      ['push ackTimeoutMs text', post(`${f.url}push`, { user: 'alice', message: 1, ackTimeoutMs: '100' }), 400],
      ['push from empty', post(`${f.url}push`, { user: 'alice', message: 1, from: '' }), 400],
      ['push message over the frame limit', post(`${f.url}push`, { user: 'alice', message: 'x'.repeat(70_000) }), 413],
      ['push body over the body limit', post(`${f.url}push`, { user: 'alice', message: 'x'.repeat(300_000) }), 413],
      ['publish room 129 bytes', post(`${f.url}rooms/${long}/publish`, { message: 1 }), 400],
      ['publish empty room', post(`${f.url}rooms//publish`, { message: 1 }), 400],
      ['publish no message', post(`${f.url}rooms/r/publish`, {}), 400],
      ['publish as text', request(`${f.url}rooms/r/publish`, { method: 'POST', body: 'hi', headers: { 'content-type': 'text/plain' } }), 415],
      ['broadcast no message', post(`${f.url}broadcast`, { msg: 1 }), 400],
      ['broadcast not JSON', request(`${f.url}broadcast`, { method: 'POST', body: 'nope', headers: { 'content-type': 'application/json' } }), 400],
      ['online limit 0', request(`${f.url}online?limit=0`), 400],
      ['online limit text', request(`${f.url}online?limit=ten`), 400],
      ['online limit too big', request(`${f.url}online?limit=100001`), 400],
      ['online limit fraction', request(`${f.url}online?limit=1.5`), 400],
      ['online limit twice', request(`${f.url}online?limit=1&limit=2`), 400],
      ['online prefix 129 bytes', request(`${f.url}online?prefix=${long}`), 400],
      ['route user 129 bytes', request(`${f.url}online/${long}`), 400],
      ['kick empty user', request(`${f.url}online/`, { method: 'DELETE' }), 400],
      ['allocate empty user', request(`${f.url}allocate?user=`), 400],
      ['allocate user 129 bytes', request(`${f.url}allocate?user=${long}`), 400],
      ['GET /push', request(`${f.url}push`), 405],
      ['PUT /online/alice', request(`${f.url}online/alice`, { method: 'PUT' }), 405],
      ['GET publish', request(`${f.url}rooms/r/publish`), 405],
    ];
    for (const [name, answer, status] of cases) {
      const a = await answer;
      assert.equal(a.status, status, `${name}: ${a.text}`);
      assert.match(a.headers['content-type'] ?? '', /^application\/json/, name);
      assert.match(errorCode(a) ?? '', /^FULCRUM_ALLOC_/, `${name}: ${a.text}`);
    }
    const body = (await post(`${f.url}push`, { user: 'alice', message: 1, priority: 9 })).json<{ error: { field?: string } }>();
    assert.equal(body.error.field, 'priority', 'the offending field is named');

    // Nothing above reached alice: the next good push is the first message she gets, and she is still online.
    assert.equal((await post(`${f.url}push`, { user: 'alice', message: 'after' })).status, 200);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(alice.messages.map((m) => m.body), ['after']);
    assert.equal((await request(`${f.url}online/alice`)).status, 200);
    assert.equal(alice.kicked.length, 0);
    await alice.client.disconnect();
  } finally {
    await f.close();
  }
});

test('alloc messaging - with a secret, /allocate?user=U returns a token the servers accept (to the admin token only) and mutations need the admin token', async () => {
  const secret = 'test-secret-Zq8';
  const f = await startMessagingAlloc({ servers: 1, label: 'am-auth', secret });
  try {
    const a = await request(`${f.url}allocate?user=alice`, { headers: { authorization: `Bearer ${adminToken(secret)}` } });
    assert.equal(a.status, 200, a.text);
    const given = a.json<{ name: string; user: string; token: string; tokenTtlMs: number }>();
    assert.equal(given.user, 'alice');
    assert.equal(given.name, f.servers[0]!.id);
    assert.match(given.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal('token' in (await request(`${f.url}allocate`, { headers: { authorization: `Bearer ${adminToken(secret)}` } })).json<object>(), false, 'no user, no token');
    // Anyone else gets the allocation, never a token: a stranger cannot log in as alice.
    for (const headers of [{}, { authorization: `Bearer ${adminToken('other')}` }, { authorization: `Bearer ${given.token}` }] as Record<string, string>[]) {
      const plain = await request(`${f.url}allocate?user=alice`, { headers });
      assert.equal(plain.status, 200, plain.text);
      const body = plain.json<Record<string, unknown>>();
      assert.deepEqual([body.user, body.name, 'token' in body, 'tokenTtlMs' in body], ['alice', f.servers[0]!.id, false, false], JSON.stringify(headers));
    }
    await assert.rejects(loginOn(f.servers[0]!, { user: 'bob', token: given.token }), (e: unknown) => e instanceof LoginError);
    const alice = await loginOn(f.servers[0]!, { user: 'alice', token: given.token });
    assert.ok(await routeIs([f.service.push], 'alice', f.servers[0]!.id));

    const msg = { user: 'alice', message: 'm' };
    const refused: [string, Promise<HttpAnswer>][] = [
      ['push without Authorization', post(`${f.url}push`, msg)],
      ['push with a wrong token', post(`${f.url}push`, msg, { authorization: `Bearer ${adminToken('other')}` })],
      ['push with Basic', post(`${f.url}push`, msg, { authorization: `Basic ${Buffer.from(`x:${secret}`).toString('base64')}` })],
      ['push with a login token', post(`${f.url}push`, msg, { authorization: `Bearer ${given.token}` })],
      ['publish without Authorization', post(`${f.url}rooms/r/publish`, { message: 1 })],
      ['broadcast without Authorization', post(`${f.url}broadcast`, { message: 1 })],
      ['kick without Authorization', request(`${f.url}online/alice`, { method: 'DELETE' })],
      ['bad body without Authorization', request(`${f.url}push`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })],
    ];
    for (const [name, answer] of refused) {
      const r = await answer;
      assert.deepEqual(failure(r), { status: 401, code: 'FULCRUM_ALLOC_UNAUTHORIZED' }, `${name}: ${r.text}`);
      assert.match(String(r.headers['www-authenticate']), /^Bearer/, name);
    }
    assert.equal((await request(`${f.url}online/alice`)).status, 200, 'reads stay open; alice was not kicked');

    const byToken = await post(`${f.url}push`, { user: 'alice', message: 'admin' }, { authorization: `Bearer ${adminToken(secret)}` });
    assert.equal(byToken.status, 200, byToken.text);
    const bySecret = await post(`${f.url}push`, { user: 'alice', message: 'secret' }, { authorization: `bearer ${secret}` });
    assert.equal(bySecret.status, 200, bySecret.text);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(alice.messages.map((m) => m.body), ['admin', 'secret']);
    const kick = await request(`${f.url}online/alice`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken(secret)}` } });
    assert.equal(kick.status, 200, kick.text);
    assert.ok(await eventually(() => alice.kicked.length === 1));
    await alice.client.disconnect();
  } finally {
    await f.close();
  }
});

test('alloc messaging - without a secret /allocate?user=U names the user but issues no token', async () => {
  const f = await startMessagingAlloc({ servers: 1, label: 'am-nosecret' });
  try {
    const a = (await request(`${f.url}allocate?user=carol`)).json<Record<string, unknown>>();
    assert.equal(a.user, 'carol');
    assert.equal('token' in a, false);
    assert.equal(a.name, f.servers[0]!.id);
  } finally {
    await f.close();
  }
});

test("alloc messaging - with a secret, the application's authorizeToken hook decides who else gets a token", async () => {
  const secret = 'hook-secret-R7';
  const asked: { user: string; session: unknown }[] = [];
  const f = await startMessagingAlloc({
    servers: 1,
    label: 'am-hook',
    secret,
    service: {
      // The application's own check: its session header must name the same user.
      authorizeToken: ({ user, headers }) => {
        asked.push({ user, session: headers['x-app-session'] });
        return headers['x-app-session'] === `session-of-${user}`;
      },
    },
  });
  try {
    const allowed = (await request(`${f.url}allocate?user=dora`, { headers: { 'x-app-session': 'session-of-dora' } })).json<{ token?: string }>();
    assert.equal(typeof allowed.token, 'string');
    const refused = (await request(`${f.url}allocate?user=dora`, { headers: { 'x-app-session': 'session-of-eve' } })).json<{ token?: string }>();
    assert.equal(refused.token, undefined);
    const none = (await request(`${f.url}allocate?user=dora`)).json<{ token?: string }>();
    assert.equal(none.token, undefined);
    // The admin token does not need the hook; a request without a user never reaches it.
    const admin = (await request(`${f.url}allocate?user=dora`, { headers: { authorization: `Bearer ${adminToken(secret)}` } })).json<{ token?: string }>();
    assert.equal(typeof admin.token, 'string');
    assert.equal((await request(`${f.url}allocate`)).status, 200);
    assert.deepEqual(asked, [
      { user: 'dora', session: 'session-of-dora' },
      { user: 'dora', session: 'session-of-eve' },
      { user: 'dora', session: undefined },
    ]);
    const dora = await loginOn(f.servers[0]!, { user: 'dora', token: allowed.token! });
    assert.ok(await routeIs([f.service.push], 'dora', f.servers[0]!.id), 'the server accepts the token');
    await dora.client.disconnect();
  } finally {
    await f.close();
  }
});

test('alloc messaging - a hook that throws answers 500, logs why and reserves nothing', async () => {
  const lines: string[] = [];
  const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
  const f = await startMessagingAlloc({
    servers: 1,
    label: 'am-hook-throws',
    secret: 'hook-secret-T1',
    service: { logger, authorizeToken: () => Promise.reject(new Error('session store down')) },
  });
  try {
    const a = await request(`${f.url}allocate?user=dora`);
    assert.deepEqual(failure(a), { status: 500, code: 'FULCRUM_ALLOC_INTERNAL' });
    assert.doesNotMatch(a.text, /session store/, 'internals are not shown');
    assert.equal(f.service.provider.pending.get(f.servers[0]!.id) ?? 0, 0);
    assert.ok(lines.some((l) => /"code":"FULCRUM_ALLOC_INTERNAL"/.test(l) && /session store down/.test(l)), lines.join(''));
  } finally {
    await f.close();
  }
});
