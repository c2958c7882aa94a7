import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { Registration, type RegistrationState } from '../../src/registry/registration.js';
import { MemoryZk } from '../helpers/memory-zk.js';
import { eventually } from '../helpers/eventually.js';

test('registration - unregister() while a check of the node is in flight never brings the node back', async () => {
  const tree = new MemoryZk();
  const session = tree.session();
  const reg = new Registration<number>({ session, root: '/fulcrum/servers', name: 'a', data: () => 1, encode: (v) => Buffer.from(String(v)) });
  const states: string[] = [];
  reg.on('state', (to: RegistrationState) => states.push(to));
  const path = '/fulcrum/servers/a';
  // register() ends with a check of the node on the current handle: hold that check's exists().
  const held = tree.hold('exists', path);
  await reg.register();
  await held.reached;
  const closing = reg.unregister();
  held.release();
  await closing;
  // Barrier: both exists() calls (the check and unregister's) answered, then the check's continuation ran.
  assert.ok(await eventually(() => tree.attempts.filter((a) => a.op === 'exists' && a.path === path).length >= 2));
  await tick();
  await tick();
  assert.equal(tree.get(path), undefined, 'the node stays deleted');
  assert.deepEqual(states, ['creating', 'attached', 'closed'], 'closed is final');
  assert.equal(tree.count('create', path), 1);
});
