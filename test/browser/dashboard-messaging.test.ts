import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { issueToken } from '../../src/messaging/token.js';
import { request } from '../helpers/alloc-fixture.js';
import { startMessagingAlloc } from '../helpers/alloc-messaging.js';
import { browserMissing, launchChromium, openPage, saveScreenshot } from '../helpers/browser.js';
import { loginOn, routeIs, type TestUser } from '../helpers/messaging.js';


/** The users the online panel lists, in order. */
function shownUsers(page: Page): Promise<string[]> {
  return page.$$eval('#online tbody tr[data-user]', (trs) => trs.map((tr) => tr.getAttribute('data-user') ?? ''));
}

async function waitUsers(page: Page, want: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await shownUsers(page);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    if (Date.now() > deadline) assert.fail(`panel shows ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pushFromForm(page: Page, user: string | undefined, message: string): Promise<{ state: string; text: string }> {
  if (user !== undefined) await page.fill('#push-user', user);
  await page.fill('#push-message', message);
  const before = Number(await page.getAttribute('body', 'data-pushes'));
  await page.click('#push-send');
  const deadline = Date.now() + 15_000;
  while (Number(await page.getAttribute('body', 'data-pushes')) === before) {
    if (Date.now() > deadline) assert.fail(`no answer shown; result says ${await page.textContent('#push-result')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { state: (await page.getAttribute('#push-result', 'data-state')) ?? '', text: (await page.textContent('#push-result')) ?? '' };
}

test('dashboard messaging - the online panel follows logins and kicks live; the push form reaches a real client and shows the ack', async (t) => {
  const missing = browserMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const f = await startMessagingAlloc({ servers: 3, label: 'dash-msg' });
  const users: TestUser[] = [];
  let browser: Browser | undefined;
  try {
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
    for (const [i, u] of names.entries()) users.push(await loginOn(f.servers[i % 3]!, { user: u }));
    for (const [i, u] of names.entries()) assert.ok(await routeIs([f.service.push], u, f.servers[i % 3]!.id));

    browser = await launchChromium();
    const { page, problems } = await openPage(browser, f.url);
    await waitUsers(page, names);
    assert.equal(await page.textContent('#online-total'), '8');
    const firstRow = await page.$$eval('#online tbody tr[data-user="alice"] td', (tds) => tds.map((td) => td.textContent));
    assert.equal(firstRow[1], f.servers[0]!.id, 'the panel names the server holding the user');

    // A new login shows up without a reload.
    const zoe = await loginOn(f.servers[1]!, { user: 'zoe' });
    users.push(zoe);
    await waitUsers(page, [...names, 'zoe']);
    assert.equal(await page.textContent('#online-total'), '9');

    // The prefix filter asks /online?prefix=.
    await page.fill('#online-prefix', 'gr');
    await waitUsers(page, ['grace']);
    await page.fill('#online-prefix', '');
    await waitUsers(page, [...names, 'zoe']);

    // Offline user: the form says so and nothing is delivered.
    const offline = await pushFromForm(page, 'nobody', '"x"');
    assert.equal(offline.state, 'offline', offline.text);
    assert.match(offline.text, /404 FULCRUM_USER_OFFLINE/);

    // A kick through the API: the user leaves the panel live.
    assert.equal((await request(`${f.url}online/heidi`, { method: 'DELETE' })).status, 200);
    await waitUsers(page, [...names.filter((n) => n !== 'heidi'), 'zoe']);

    // Clicking a user fills the form; the push reaches the real client, which acks it.
    await page.click('#online tbody tr[data-user="zoe"]');
    assert.equal(await page.inputValue('#push-user'), 'zoe');
    const acked = await pushFromForm(page, undefined, '{"hello": "zoe", "from": "the dashboard"}');
    assert.equal(acked.state, 'acked', acked.text);
    assert.equal(zoe.messages.length, 1);
    assert.deepEqual(zoe.messages[0]!.body, { hello: 'zoe', from: 'the dashboard' });
    assert.match(acked.text, new RegExp(`^acked by zoe on ${f.servers[1]!.id.replace(/\./g, '\\.')} · id ${zoe.messages[0]!.id} · \\d+ ms$`));
    assert.deepEqual(users.filter((u) => u !== zoe).map((u) => u.messages.length), Array(names.length).fill(0), 'nobody else got anything');

    t.diagnostic(`screenshot saved to ${await saveScreenshot(page, 'dashboard-messaging.png')}`);
    // Chromium logs every 4xx answer as a failed resource: exactly the one of the offline push.
    assert.deepEqual(problems.filter((p) => !/status of 404 \(Not Found\)/.test(p)), [], 'no script errors or CSP violations');
    assert.equal(problems.length, 1, problems.join('\n'));
  } finally {
    await browser?.close();
    await Promise.all(users.map((u) => u.client.disconnect().catch(() => {})));
    await f.close();
  }
});

test('dashboard messaging - with a secret the form needs the admin token: refused without it, acked with it', async (t) => {
  const missing = browserMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const secret = 'dash-secret-k2P';
  const f = await startMessagingAlloc({ servers: 1, label: 'dash-msg-auth', secret });
  let browser: Browser | undefined;
  let yan: TestUser | undefined;
  try {
    yan = await loginOn(f.servers[0]!, { user: 'yan', token: issueToken(secret, 'yan') });
    browser = await launchChromium();
    const { page, problems } = await openPage(browser, f.url);
    await waitUsers(page, ['yan']);
    const refused = await pushFromForm(page, 'yan', '"no token"');
    assert.equal(refused.state, 'error', refused.text);
    assert.match(refused.text, /^401 FULCRUM_ALLOC_UNAUTHORIZED/);
    await page.fill('#push-auth', adminToken(secret));
    const acked = await pushFromForm(page, 'yan', '"with token"');
    assert.equal(acked.state, 'acked', acked.text);
    assert.deepEqual(yan.messages.map((m) => m.body), ['with token']);
    // Chromium logs the 401 answer as a failed resource; nothing else may show up.
    assert.deepEqual(problems.filter((p) => !/status of 401 \(Unauthorized\)/.test(p)), []);
    assert.equal(problems.length, 1, problems.join('\n'));
  } finally {
    await browser?.close();
    await yan?.client.disconnect().catch(() => {});
    await f.close();
  }
});
