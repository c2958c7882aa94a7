import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validate } from '@readme/openapi-parser';
import { adminToken } from '../../src/alloc/admin-auth.js';
import { errorCode, request, withAlloc, type HttpAnswer } from '../helpers/alloc-fixture.js';

interface Operation {
  responses: Record<string, { description: string; content?: Record<string, { schema?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } } }> }>;
  security?: unknown[];
}
interface Doc {
  openapi: string;
  info: { description: string };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'head', 'post', 'put', 'delete', 'patch', 'options'];

/** The route tables of the README: the contract an independent client is written from. */
const CONTRACT = [
  'GET /',
  'GET /index.html',
  'GET /servers',
  'GET /allocate',
  'GET /events',
  'GET /metrics',
  'GET /healthz',
  'GET /openapi.json',
  'POST /register',
  'POST /unregister',
  'DELETE /register/{address}',
  'POST /push',
  'POST /rooms/{room}/publish',
  'POST /broadcast',
  'GET /online',
  'GET /online/{user}',
  'DELETE /online/{user}',
];

function codesOf(op: Operation, status: number): string[] {
  return op.responses[String(status)]?.content?.['application/json']?.schema?.properties?.error?.properties?.code?.enum ?? [];
}

test('alloc openapi - GET /openapi.json validates as OpenAPI 3.1 and lists exactly the routes served', () =>
  withAlloc({ label: 'openapi' }, async (f) => {
    const res = await request(`${f.url}openapi.json`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = res.json<Doc>();
    const result = await validate(structuredClone(doc) as never);
    assert.equal(result.valid, true, JSON.stringify(result, null, 1).slice(0, 2_000));
    assert.equal(doc.openapi, '3.1.0');

    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = f.service.routes.map((r) => `${r.method} ${r.path}`).sort();
    assert.deepEqual(documented, served, 'every route served is documented, and nothing else');
    for (const r of CONTRACT) assert.ok(served.includes(r), `${r} is served`);

    // Every operation documents its success and a 500; every mutating one the admin token and its 401.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(op.responses['200'], `${method} ${path}: 200`);
        assert.deepEqual(codesOf(op, 500), ['FULCRUM_ALLOC_INTERNAL'], `${method} ${path}: 500`);
        const mutating = method !== 'get' && method !== 'head';
        assert.equal(codesOf(op, 401).includes('FULCRUM_ALLOC_UNAUTHORIZED'), mutating, `${method} ${path}: 401`);
        assert.equal(op.security !== undefined, mutating, `${method} ${path}: security`);
      }
    }
    // What no single route owns is said once, in the description.
    for (const code of ['FULCRUM_ALLOC_NOT_FOUND', 'FULCRUM_ALLOC_METHOD_NOT_ALLOWED', 'FULCRUM_ALLOC_BAD_HTTP', 'FULCRUM_ALLOC_HEADERS_TOO_LARGE', 'FULCRUM_ALLOC_REQUEST_TIMEOUT']) {
      assert.match(doc.info.description, new RegExp(code), code);
    }
  }));

test('alloc openapi - every error the service answers is documented for its route, status and code', () => {
  const secret = 'openapi-secret-P4';
  const admin = { authorization: `Bearer ${adminToken(secret)}` };
  return withAlloc({ label: 'openapi-errors', service: { secret } }, async (f) => {
    const doc = (await request(`${f.url}openapi.json`)).json<Doc>();
    const post = (path: string, body: unknown, headers: Record<string, string> = admin) => request(`${f.url}${path}`, { method: 'POST', body, headers });
    // [documented path, method, answer]: each a real answer of the running service.
    const probes: [string, string, Promise<HttpAnswer>][] = [
      ['/allocate', 'get', request(`${f.url}allocate?key=`)],
      ['/allocate', 'get', request(`${f.url}allocate`)], // no servers: 503
      ['/push', 'post', post('push', { user: 'u', message: 1 }, {})],
      ['/push', 'post', request(`${f.url}push`, { method: 'POST', body: 'x', headers: { ...admin, 'content-type': 'text/plain' } })],
      ['/push', 'post', post('push', { user: 'u', message: 'x'.repeat(300_000) })],
      ['/push', 'post', post('push', { user: 'u', message: 'x'.repeat(70_000) })],
      ['/push', 'post', post('push', { user: 'nobody', message: 1 })],
      ['/push', 'post', post('push', { user: 'u' })],
      ['/rooms/{room}/publish', 'post', post('rooms/r/publish', { message: 1, extra: 1 })],
      ['/broadcast', 'post', post('broadcast', {}, {})],
      ['/online', 'get', request(`${f.url}online?limit=0`)],
      ['/online/{user}', 'get', request(`${f.url}online/nobody`)],
      ['/online/{user}', 'delete', request(`${f.url}online/nobody`, { method: 'DELETE', headers: admin })],
      ['/register', 'post', post('register', { ip: '127.0.0.1', port: 7100, balance: 1 }, {})],
      ['/register', 'post', post('register', { ip: '127.0.0.1', port: 0, balance: 1 })],
      ['/unregister', 'post', post('unregister', { ip: '127.0.0.1', port: 7100 })],
      ['/register/{address}', 'delete', request(`${f.url}register/127.0.0.1:7100`, { method: 'DELETE', headers: admin })],
      ['/register/{address}', 'delete', request(`${f.url}register/nope:1`, { method: 'DELETE', headers: admin })],
    ];
    const seen = new Set<string>();
    for (const [path, method, answer] of probes) {
      const a = await answer;
      const code = errorCode(a);
      assert.ok(a.status >= 400 && code !== undefined, `${method} ${path}: ${a.status} ${a.text}`);
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method} ${path} documented`);
      assert.ok(codesOf(op, a.status).includes(code), `${method} ${path} answered ${a.status} ${code}; documented ${a.status}: ${JSON.stringify(codesOf(op, a.status))}`);
      seen.add(`${a.status} ${code}`);
    }
    // The probes cover every kind of client error a route answers itself.
    assert.deepEqual(
      [...seen].sort(),
      [
        '400 FULCRUM_ALLOC_BAD_REQUEST',
        '401 FULCRUM_ALLOC_UNAUTHORIZED',
        '404 FULCRUM_ALLOC_NOT_FOUND',
        '404 FULCRUM_USER_OFFLINE',
        '413 FULCRUM_ALLOC_PAYLOAD_TOO_LARGE',
        '415 FULCRUM_ALLOC_UNSUPPORTED_MEDIA_TYPE',
        '503 FULCRUM_NO_SERVERS',
      ],
    );
  });
});
