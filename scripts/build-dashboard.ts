// Builds the dashboard's static files into dist/src/alloc/dashboard/: the TypeScript module
// bundled by esbuild (type-checked before by `tsc -p src/alloc/dashboard`), the HTML and CSS
// copied as they are. The service inlines them into one page (see src/alloc/dashboard-page.ts).
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
