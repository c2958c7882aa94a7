import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

// Layers from the bottom up; a module may import its own layer or lower ones only.
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'backoff.ts', 'map-concurrent.ts', 'fnv-hash.ts', 'server-data.ts', 'protocol', 'log'],
  ['zk'],
  ['registry', 'discovery'],
  ['balancing'],
  ['server', 'client'],
  ['index.ts', 'messaging'],
  ['alloc', 'metrics', 'browser'],
  ['tools'],
];
const SRC = 'src';

function layerOf(file: string): number {
  const top = relative(SRC, file).split('/')[0] ?? '';
  const i = LAYERS.findIndex((l) => l.includes(top) || l.includes(top.replace(/\.ts$/, '')));
  assert.notEqual(i, -1, `${file} belongs to no layer; add its folder to LAYERS`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)].map((m) => (m[1] ?? m[2]) as string);
}

const resolveTs = (from: string, spec: string) => normalize(join(dirname(from), spec)).replace(/\.js$/, '.ts');

describe('architecture', () => {
  const files = sources(SRC);

  it('architecture - no module imports from a layer above its own', () => {
    const bad: string[] = [];
    for (const f of files) {
      for (const spec of imports(f).filter((s) => s.startsWith('.'))) {
        const target = resolveTs(f, spec);
        if (layerOf(target) > layerOf(f)) bad.push(`${f} -> ${target}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('architecture - the library entry point pulls in no HTTP, metrics or tooling', () => {
    const seen = new Set<string>();
    const external = new Set<string>();
    // The client port parses a WebSocket upgrade request with Node's HTTP parser; nothing else may.
    const upgradeParser = join(SRC, 'server', 'transport', 'client-port.ts');
    const walk = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const spec of imports(f)) {
        if (spec.startsWith('.')) walk(resolveTs(f, spec));
        else if (!(f === upgradeParser && spec === 'node:http')) external.add(spec);
      }
    };
    walk(join(SRC, 'index.ts'));
    assert.deepEqual([...seen].filter((f) => /^src\/(alloc|metrics|tools)\//.test(f)), []);
    for (const pkg of ['prom-client', 'node:http', 'http', 'playwright-core', 'pino-pretty']) assert.equal(external.has(pkg), false, `index.ts reaches ${pkg}`);
    assert.ok(seen.has('src/zk/session.ts') && seen.has('src/server/cluster-server.ts'), 'the walk follows imports');
  });

  it('architecture - only src/zk imports the native zookeeper addon', () => {
    const bad = files.filter((f) => !f.startsWith(join(SRC, 'zk') + '/') && imports(f).includes('zookeeper'));
    assert.deepEqual(bad, []);
  });

  it('architecture - the dashboard and the browser client run in a browser: they import nothing but the types they share, the browser client and msgpackr', () => {
    const browser = files.filter((f) => f.startsWith(join(SRC, 'alloc', 'dashboard') + '/') || f.startsWith(join(SRC, 'browser') + '/'));
    assert.ok(browser.some((f) => f.includes('dashboard')) && browser.some((f) => f.includes('browser-client')), 'the walk finds the dashboard and the browser client');
    const allowed = (f: string, spec: string) => spec === 'msgpackr' || (spec.startsWith('.') && resolveTs(f, spec).startsWith(join(SRC, 'browser') + '/'));
    const bad = browser.flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/^\s*import\s+(?!type\s)[^;]*?from\s+'([^']+)'/gm)].filter((m) => !allowed(f, m[1]!)).map((m) => `${f} -> ${m[1]}`),
    );
    assert.deepEqual(bad, [], 'value imports would bundle Node modules into the page');
  });

  it('architecture - only src/zk/addon.ts loads the addon, so every handle passes its patch check', () => {
    const loads = (f: string) => /^\s*import\s+(?!type\b)[^'"]*from\s+'zookeeper'|require\('zookeeper'\)/m.test(readFileSync(f, 'utf8'));
    assert.deepEqual(files.filter(loads), [join(SRC, 'zk', 'addon.ts')]);
  });

  it('architecture - built-in strategies are registered without importing for side effects', () => {
    const sideEffect = files.filter((f) => imports(f).length > 0 && /^\s*import\s+'\./m.test(readFileSync(f, 'utf8')));
    assert.deepEqual(sideEffect, []);
  });
});
