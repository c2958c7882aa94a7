import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { request } from '../helpers/alloc-fixture.js';
import { startMessagingAlloc } from '../helpers/alloc-messaging.js';
import { browserMissing, launchChromium, openPage, saveScreenshot } from '../helpers/browser.js';
import { routeIs } from '../helpers/messaging.js';


async function waitFor(page: Page, what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`${what}; the panel says ${await page.textContent('#try-status')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const shown = (page: Page) => page.$$eval('#try-messages li', (lis) => lis.map((li) => li.textContent ?? ''));

test('browser client - the try-it panel logs a user in from Chromium over WebSocket (token from /allocate with the admin token), shows pushes, and re-connects to another server when its server goes', async (t) => {
  const missing = browserMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const secret = 'try-secret-Q7';
  const admin = adminToken(secret);
  const f = await startMessagingAlloc({ servers: 2, label: 'try-it', secret });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, problems } = await openPage(browser, f.url, { width: 1280, height: 1100 });
    await page.fill('#push-auth', admin);
    await page.fill('#try-user', 'web-1');
    await page.click('#try-login');
    await waitFor(page, 'no login', async () => (await page.getAttribute('#try-status', 'data-state')) === 'connected');
    const first = f.servers.find((s) => s.userCount === 1)!;
    assert.ok(first, 'one server holds the user');
    assert.match((await page.textContent('#try-status')) ?? '', new RegExp(`^logged in as web-1 on ${first.id.replace(/\./g, '\\.')}$`));
    assert.ok(await routeIs([f.service.push], 'web-1', first.id));
    assert.equal(first.cluster.balance, 1, 'the WebSocket connection is counted');

    const push = (message: unknown) => request(`${f.url}push`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: { user: 'web-1', message } });
    const answer = await push({ hello: 'browser' });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json<{ acked: boolean }>().acked, true, 'the page acked it');
    await waitFor(page, 'the push is not shown', async () => (await page.getAttribute('body', 'data-try-messages')) === '1');
    assert.deepEqual(await shown(page), ['push{"hello":"browser"}']);

    // Its server goes: the page allocates again, lands on the other server, logs in again.
    const other = f.servers.find((s) => s !== first)!;
    await first.close();
    await waitFor(page, 'no re-login on the other server', async () => ((await page.textContent('#try-status')) ?? '').endsWith(other.id));
    assert.ok(await routeIs([f.service.push], 'web-1', other.id));
    assert.equal((await push('again')).status, 200);
    await waitFor(page, 'the second push is not shown', async () => (await page.getAttribute('body', 'data-try-messages')) === '2');
    assert.deepEqual(await shown(page), ['push"again"', 'push{"hello":"browser"}']);

    t.diagnostic(`screenshot saved to ${await saveScreenshot(page, 'dashboard-try-it.png')}`);
    assert.deepEqual(problems, [], 'no script errors or CSP violations');
  } finally {
    await browser?.close();
    await f.close();
  }
});

test('browser client - without the admin token a service with a secret gives no login token: the panel shows the refusal and the client stops', async (t) => {
  const missing = browserMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const f = await startMessagingAlloc({ servers: 1, label: 'try-refused', secret: 'try-secret-R2' });
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(f.url);
    await page.fill('#try-user', 'web-2');
    await page.click('#try-login');
    await waitFor(page, 'no refusal', async () => (await page.getAttribute('#try-status', 'data-state')) === 'stopped');
    assert.match((await page.textContent('#try-status')) ?? '', /^FULCRUM_TOKEN_MISSING: /);
    assert.equal(f.servers[0]!.userCount, 0);
  } finally {
    await browser?.close();
    await f.close();
  }
});
