import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeWriter } from '../../src/registry/node-writer.js';
import { Registration, NodeConflictError, type RegistrationState } from '../../src/registry/registration.js';
import { BalanceUpdater } from '../../src/registry/balance-updater.js';
import { decodeServerData } from '../../src/server-data.js';
import { C } from '../../src/zk/codes.js';
import { ZkSession } from '../../src/zk/session.js';
import type { ZkClient } from '../../src/zk/zk-client.js';
import { eventually } from '../helpers/eventually.js';
import { freshRoot, testZk, useTestSession } from '../helpers/zk.js';
import { expireSession } from '../helpers/expire-session.js';

let session: ZkSession;
useTestSession((s) => (session = s), { sessionTimeoutMs: 4_000 });

const encode = (v: number) => Buffer.from(String(v));
const decode = (b: Buffer) => Number(b.toString());

/** A node created by the test and a writer attached to it, the way a registration hands it over. */
async function attachedWriter(zk: ZkClient, path: string, truth: { value: number }, minWriteIntervalMs = 20): Promise<NodeWriter<number>> {
  await zk.create(path, encode(truth.value), C.ZOO_PERSISTENT);
  const w = new NodeWriter<number>({ path, client: () => session.client, supply: () => truth.value, encode, minWriteIntervalMs });
  w.attach(0, w.snapshot().generation);
  return w;
}

test('writer - 500 changes in a burst become a few versioned writes ending at the truth', async () => {
  const zk = session.client;
  const { root, cleanup } = await freshRoot(zk.native, 'nw-coalesce');
  try {
    const truth = { value: 0 };
    const w = await attachedWriter(zk, `${root}/n`, truth);
    const outcomes = new Set<Promise<unknown>>();
    for (let i = 1; i <= 500; i++) {
      truth.value = i;
      outcomes.add(w.request());
    }
    await Promise.all(outcomes);
    await w.flushed();
    const { stat, data } = await zk.get(`${root}/n`);
    assert.equal(decode(data), 500);
    assert.equal(stat.version, w.stats.writes, 'every write was one versioned setData');
    assert.ok(w.stats.writes <= 5, `500 changes took ${w.stats.writes} writes`);
    assert.equal(w.stats.badVersion, 0);
  } finally {
    await cleanup();
  }
});

test('writer - a foreign write is detected by BADVERSION and the truth is written over it', async () => {
  const zk = session.client;
  const { root, cleanup } = await freshRoot(zk.native, 'nw-foreign');
  try {
    const truth = { value: 3 };
    const path = `${root}/n`;
    const w = await attachedWriter(zk, path, truth);
    await zk.set(path, encode(999), -1); // somebody else
    truth.value = 4;
    const o = await w.request();
    assert.equal(o.kind, 'written');
    assert.equal(w.stats.badVersion, 1);
    const { stat, data } = await zk.get(path);
    assert.equal(decode(data), 4);
    assert.equal(stat.version, 2);
    assert.equal(w.nodeVersion, 2);
  } finally {
    await cleanup();
  }
});

test('writer - a deleted node is reported as node-gone and nothing is recreated', async () => {
  const zk = session.client;
  const { root, cleanup } = await freshRoot(zk.native, 'nw-gone');
  try {
    const truth = { value: 1 };
    const path = `${root}/n`;
    const w = await attachedWriter(zk, path, truth);
    await zk.delete(path, -1);
    truth.value = 2;
    assert.deepEqual(await w.request(), { kind: 'node-gone' });
    assert.equal(w.attached, false);
    assert.equal(await zk.exists(path), undefined);
  } finally {
    await cleanup();
  }
});

test('registration - states go idle, creating, attached, recreating, attached, closed across a session expiry', async () => {
  const own = new ZkSession({ connect: await testZk(), sessionTimeoutMs: 4_000 });
  const zk = session.client;
  const { root, cleanup } = await freshRoot(zk.native, 'reg-states');
  const u = new BalanceUpdater({ session: own, root, name: 's1', describe: () => ({ ip: '127.0.0.1', port: 1 }), verifyIntervalMs: 0 });
  const states: RegistrationState[] = [u.registration.state];
  u.on('state', (to) => states.push(to));
  try {
    u.increase(2);
    await u.register();
    assert.equal(decodeServerData((await zk.get(`${root}/s1`)).data).balance, 2);
    await expireSession(own.zk, await testZk());
    u.increase(); // while the node is gone: the recreated node must carry it
    assert.ok(await eventually(() => states.includes('recreating') && u.registration.registered));
    assert.equal((await zk.exists(`${root}/s1`))?.ephemeralOwner, own.sessionId);
    await u.flushed();
    assert.equal(decodeServerData((await zk.get(`${root}/s1`)).data).balance, 3);
    await u.unregister();
    assert.equal(await zk.exists(`${root}/s1`), undefined);
    assert.deepEqual(states, ['idle', 'creating', 'attached', 'recreating', 'attached', 'closed']);
    assert.equal(u.registration.reregistrations, 1);
  } finally {
    await u.unregister();
    own.close();
    await cleanup();
  }
});

test('registration - a live foreign node is never touched: conflict, then NodeConflictError', async () => {
  const zk = session.client;
  const { root, cleanup } = await freshRoot(zk.native, 'reg-conflict');
  await zk.create(`${root}/taken`, encode(1), C.ZOO_EPHEMERAL);
  const own = new ZkSession({ connect: await testZk(), sessionTimeoutMs: 4_000 });
  const r = new Registration<number>({ session: own, root, name: 'taken', data: () => 5, encode, conflictTimeoutMs: 300, verifyIntervalMs: 0 });
  const states: RegistrationState[] = [];
  r.on('state', (to) => states.push(to));
  r.on('error', () => {}); // the conflict is reported once; the rejection is what we check
  try {
    await assert.rejects(r.register(), NodeConflictError);
    assert.deepEqual(states, ['creating', 'conflict', 'idle']);
    const { stat, data } = await zk.get(`${root}/taken`);
    assert.equal(stat.ephemeralOwner, zk.sessionId);
    assert.equal(decode(data), 1);
  } finally {
    await r.unregister();
    own.close();
    await zk.delete(`${root}/taken`, -1).catch(() => {});
    await cleanup();
  }
});
