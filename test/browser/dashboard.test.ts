import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { addressOf } from '../../src/discovery/snapshot.js';
import { request, withAlloc } from '../helpers/alloc-fixture.js';
import { browserMissing, launchChromium, saveScreenshot } from '../helpers/browser.js';
import { eventually } from '../helpers/eventually.js';
import { openSocket } from '../helpers/socket.js';

/** Balance shown in the table row of `name`, or undefined when there is no such row. */
async function shownBalance(page: Page, name: string): Promise<string | undefined> {
  const rows = await page.$$eval('#servers tbody tr', (trs) =>
    trs.map((tr) => [tr.getAttribute('data-server'), tr.querySelector('td.balance')?.textContent ?? null] as const),
  );
  return rows.find(([n]) => n === name)?.[1] ?? undefined;
}

async function waitShown(page: Page, want: Record<string, number>, timeoutMs = 10_000): Promise<void> {
  let got: (string | undefined)[] = [];
  const shown = await eventually(
    async () => {
      got = await Promise.all(Object.keys(want).map((n) => shownBalance(page, n)));
      return Object.values(want).every((b, i) => got[i] === String(b));
    },
    timeoutMs,
    50,
  );
  assert.ok(shown, `table shows ${JSON.stringify(got)}, want ${JSON.stringify(Object.values(want))}`);
}

test('dashboard - shows live balances, one chart series per server, and follows new connections', async (t) => {
  const missing = browserMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  await withAlloc({ servers: 3, label: 'dashboard' }, async (f) => {
    let browser: Browser | undefined;
    try {
      const [a, b, c] = f.servers;
      const [na, nb, nc] = f.servers.map((s) => addressOf(s.endpoint!));
      for (const [s, n] of [
        [a!, 3],
        [b!, 1],
      ] as const) {
        for (let i = 0; i < n; i++) f.sockets.push(await openSocket(s.endpoint!.port));
      }

      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      await page.goto(f.url); // a browser's Accept header gets the dashboard on /

      await waitShown(page, { [na!]: 3, [nb!]: 1, [nc!]: 0 });
      const rows = await page.$$eval('#servers tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-server')));
      assert.deepEqual(rows, [na, nb, nc].sort());
      assert.equal(await page.textContent('#spread'), '3');
      assert.equal(await page.textContent('#total'), '4');
      assert.equal(await page.getAttribute('#status', 'data-state'), 'live');
      const series = await page.$$eval('#chart .series', (ps) => ps.map((p) => p.getAttribute('data-server')));
      assert.deepEqual(series.sort(), [na, nb, nc].sort(), 'one series per server');

      // One more TCP connection: the number shown for that server changes without a reload.
      const eventsBefore = Number(await page.getAttribute('body', 'data-events'));
      f.sockets.push(await openSocket(c!.endpoint!.port));
      await waitShown(page, { [nc!]: 1 });
      assert.equal(await page.textContent('#spread'), '2');
      assert.ok(Number(await page.getAttribute('body', 'data-events')) > eventsBefore);

      // A short ramp through /allocate, so the chart in the screenshot shows the cluster evening out.
      for (let i = 0; i < 13; i++) {
        const pick = (await request(`${f.url}allocate`)).json<{ port: number }>();
        f.sockets.push(await openSocket(pick.port));
        await new Promise((r) => setTimeout(r, 300));
      }
      await waitShown(page, { [na!]: 6, [nb!]: 6, [nc!]: 6 });
      assert.equal(await page.textContent('#spread'), '0');
      assert.equal(await page.$$eval('#chart .series', (ps) => ps.length), 3);
      await new Promise((r) => setTimeout(r, 1_100)); // one more chart tick so the lines reach "now"

      t.diagnostic(`screenshot saved to ${await saveScreenshot(page, 'dashboard.png')}`);
      assert.deepEqual(problems, [], 'no script errors or CSP violations');
    } finally {
      await browser?.close();
    }
  });
});
