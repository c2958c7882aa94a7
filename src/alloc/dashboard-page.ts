import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FulcrumError } from '../errors.js';

/** Where `npm run build` puts the dashboard's files (index.html, dashboard.css, dashboard.js). */
export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));

/** The dashboard's files are missing: the build step that bundles them did not run. */
export class DashboardNotBuiltError extends FulcrumError {
  constructor(dir: string, options?: { cause?: unknown }) {
    super('FULCRUM_DASHBOARD_NOT_BUILT', `the dashboard is not built in ${dir}; run npm run build`, options);
  }
}

/** The page as served, and the Content-Security-Policy that lets exactly its own style and script run. */
export interface DashboardPage {
  html: Buffer;
  csp: string;
}

function hashOf(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

function inline(html: string, tag: string, replacement: string): string {
  if (!html.includes(tag)) throw new FulcrumError('FULCRUM_DASHBOARD_NOT_BUILT', `the dashboard page has no ${tag}`);
  // A function, so `$&` and friends in the bundle stay literal.
  return html.replace(tag, () => replacement);
}

/**
 * Reads the built dashboard and inlines its stylesheet and script into the page: one
 * self-contained answer (no CDN, no second request), allowed by hash only, talking to this
 * origin only.
 */
export function loadDashboard(dir = DASHBOARD_DIR): DashboardPage {
  let html: string, css: string, js: string;
  try {
    html = readFileSync(`${dir}/index.html`, 'utf8');
    css = readFileSync(`${dir}/dashboard.css`, 'utf8');
    js = readFileSync(`${dir}/dashboard.js`, 'utf8');
  } catch (cause) {
    throw new DashboardNotBuiltError(dir, { cause });
  }
  if (/<\/script/i.test(js) || /<\/style/i.test(css)) throw new FulcrumError('FULCRUM_DASHBOARD_NOT_BUILT', 'the dashboard bundle would close its own inline tag');
  const page = inline(inline(html, '<link rel="stylesheet" href="dashboard.css">', `<style>${css}</style>`), '<script src="dashboard.js"></script>', `<script>${js}</script>`);
  const csp = [
    "default-src 'none'",
    // The try-it panel's WebSocket goes to whichever server /allocate names.
    "connect-src 'self' ws: wss:",
    'img-src data:',
    `style-src ${hashOf(css)}`,
    `script-src ${hashOf(js)}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html: Buffer.from(page, 'utf8'), csp };
}
