// Builds the browser code: the dashboard's static files into dist/src/alloc/dashboard/ (the
// TypeScript module bundled by esbuild, type-checked before by `tsc -p src/alloc/dashboard`, the
// HTML and CSS copied as they are; the service inlines them into one page, see
// src/alloc/dashboard-page.ts), and the browser client `fulcrum/browser` as one ES module in
// dist/src/browser/index.js (msgpackr's browser build inside; declarations by `tsc -p src/browser`).
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const SRC = 'src/alloc/dashboard';
const OUT = 'dist/src/alloc/dashboard';

mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [`${SRC}/dashboard.ts`],
  outfile: `${OUT}/dashboard.js`,
  bundle: true,
  format: 'iife',
  target: 'es2020',
  platform: 'browser',
  minify: true,
  charset: 'utf8',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'dashboard.css']) copyFileSync(`${SRC}/${f}`, `${OUT}/${f}`);
await build({
  entryPoints: ['src/browser/index.ts'],
  outfile: 'dist/src/browser/index.js',
  bundle: true,
  format: 'esm',
  target: 'es2020',
  platform: 'browser',
  charset: 'utf8',
  legalComments: 'none',
  logLevel: 'warning',
});
