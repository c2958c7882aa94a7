import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium: browsers are never downloaded (`npm run setup` installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, with what to do about it; undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} missing — run \`npm run setup\` (apt-get install chromium, as root)`;
}

/** Headless Chromium with nothing that talks to the network by itself. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** A new page at `url` and the script errors, warnings and CSP violations it logs (collected; assert afterwards). */
export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/**
 * Saves a full-page screenshot as `name` in .artifacts/ (a test run must not change tracked files),
 * or in docs/ with FULCRUM_UPDATE_DOCS=1; returns the path.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  const path = fileURLToPath(new URL(`../../../${process.env.FULCRUM_UPDATE_DOCS === '1' ? 'docs' : '.artifacts'}/${name}`, import.meta.url));
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
  return path;
}
