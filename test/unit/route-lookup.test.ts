import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoginOrder } from '../../src/messaging/login-order.js';
import { RouteLookup } from '../../src/messaging/routes/route-lookup.js';

function setup(cacheSize = 3) {
  const own = new Map<string, LoginOrder>([['me-user', { since: 5, server: 'me', seq: 1 }]]);
  const elsewhere = new Map<string, LoginOrder[]>();
  const asked: string[] = [];
  const view = new RouteLookup({
    server: 'me',
    own: (u) => own.get(u),
    ownUsers: () => own.entries(),
    ownCount: () => own.size,
    ask: async (u) => (asked.push(u), elsewhere.get(u) ?? []),
    cacheSize,
  });
  const changed: string[][] = [];
  view.on('changed', (users) => changed.push([...users]));
  return { own, elsewhere, asked, view, changed };
}

test('route lookup - own users without asking; others asked once, the newest answer kept, the least recently used dropped past the cache size', async () => {
  const { elsewhere, asked, view, changed } = setup(3);
  assert.deepEqual(await view.lookup('me-user'), { since: 5, server: 'me', seq: 1, shard: '' });
  assert.deepEqual(asked, []);
  elsewhere.set('x', [{ since: 10, server: 'a', seq: 1 }, { since: 12, server: 'b', seq: 3 }]);
  assert.equal((await view.lookup('x'))?.server, 'b', 'the newest of two logins');
  assert.equal((await view.lookup('x'))?.server, 'b');
  assert.deepEqual(asked, ['x'], 'asked once');
  for (const u of ['p', 'q', 'r']) {
    elsewhere.set(u, [{ since: 1, server: 'a', seq: 1 }]);
    await view.lookup(u);
  }
  assert.equal(view.best('x'), undefined, 'x was the least recently used');
  assert.equal(view.stats.cached, 3);
  assert.deepEqual([view.size, [...view.entries()].map(([u]) => u)], [1, ['me-user']], 'only own users are listed');
  // p left: a forced lookup (its route proved stale) forgets it and says so.
  elsewhere.delete('p');
  assert.equal(await view.lookup('p', { force: true }), undefined);
  assert.equal(view.best('p'), undefined);
  assert.ok(changed.some((c) => c.includes('p')));
  view.close();
});
