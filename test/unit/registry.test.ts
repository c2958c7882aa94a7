import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { ClosedError, InvalidArgumentError, ZkError } from '../../src/errors.js';
import { BalanceCounter } from '../../src/registry/balance-counter.js';
import { NodeWriter, type WriteDelayContext } from '../../src/registry/node-writer.js';
import { C } from '../../src/zk/codes.js';
import type { ZkClient, ZkStat } from '../../src/zk/zk-client.js';

/** In-memory stand-in for one znode: versioned set and exists, with injectable failures. */
class FakeNode {
  version = 0;
  data: number | undefined = 0;
  exists = true;
  sets = 0;
  /** Failures to answer the next set calls with, in order. */
  failNext: number[] = [];
  /** Resolves the pending set when a test holds it open. */
  gate: Promise<void> | undefined;

  stat(): ZkStat {
    return { czxid: 1, mzxid: this.version + 1, pzxid: 1, ctime: 0, mtime: 0, version: this.version, cversion: 0, aversion: 0, ephemeralOwner: 'abc', dataLength: 1, numChildren: 0 };
  }

  client(): ZkClient {
    const fake = {
      set: async (path: string, data: Buffer, version: number): Promise<ZkStat> => {
        if (this.gate) await this.gate;
        const code = this.failNext.shift();
        if (code !== undefined) throw new ZkError('set', path, code);
        if (!this.exists) throw new ZkError('set', path, C.ZNONODE);
        if (version !== -1 && version !== this.version) throw new ZkError('set', path, C.ZBADVERSION);
        this.sets++;
        this.version++;
        this.data = Number(data.toString());
        return this.stat();
      },
      exists: async (): Promise<ZkStat | undefined> => (this.exists ? this.stat() : undefined),
    };
    return fake as unknown as ZkClient;
  }
}

function writerFor(node: FakeNode, truth: { value: number }, extra: { delayPolicy?: (ctx: WriteDelayContext) => number } = {}): NodeWriter<number> {
  const w = new NodeWriter<number>({ path: '/t/node', client: () => node.client(), supply: () => truth.value, encode: (v) => Buffer.from(String(v)), minWriteIntervalMs: 0, ...extra });
  w.attach(node.version, w.snapshot().generation);
  return w;
}

test('counter - increase, decrease and set change the value synchronously and count events', () => {
  const c = new BalanceCounter();
  let changes = 0;
  const off = c.onChange(() => changes++);
  c.increase();
  c.increase(3);
  c.decrease(2);
  assert.equal(c.value, 2);
  c.set(10);
  c.set(10); // unchanged: no event
  assert.equal(c.value, 10);
  assert.equal(c.events, 4);
  assert.equal(changes, 4);
  off();
  c.increase();
  assert.equal(changes, 4);
});

test('counter - refuses a negative balance and non-integer steps without changing', () => {
  const c = new BalanceCounter();
  c.increase(2);
  assert.throws(() => c.decrease(3), InvalidArgumentError);
  assert.throws(() => c.increase(0.5), InvalidArgumentError);
  assert.throws(() => c.set(-1), InvalidArgumentError);
  assert.equal(c.value, 2);
});

test('writer - requests arriving during a write are folded into one more write carrying the latest value', async () => {
  const node = new FakeNode();
  const truth = { value: 0 };
  const w = writerFor(node, truth);
  let open!: () => void;
  node.gate = new Promise((r) => (open = r));
  truth.value = 1;
  const first = w.request();
  await new Promise((r) => setTimeout(r, 5)); // the first write is now in flight
  const later: Promise<unknown>[] = [];
  for (let i = 2; i <= 50; i++) {
    truth.value = i;
    later.push(w.request());
  }
  assert.equal(new Set(later).size, 1, 'every request during the write shares the next write');
  node.gate = undefined;
  open();
  assert.equal((await first).kind, 'written');
  const o = await later[0];
  assert.deepEqual(o, { kind: 'written', value: 50, version: 2 });
  assert.equal(node.sets, 2);
  assert.equal(node.data, 50);
  assert.equal(w.stats.writes, 2);
  await w.flushed();
  assert.ok(w.upToDate);
});

test('writer - a foreign write (BADVERSION) makes it re-read the version and write the truth', async () => {
  const node = new FakeNode();
  const truth = { value: 7 };
  const w = writerFor(node, truth);
  node.version = 5; // somebody else wrote twice
  node.data = 999;
  const o = await w.request();
  assert.equal(o.kind, 'written');
  assert.equal(node.data, 7);
  assert.equal(w.nodeVersion, 6);
  assert.equal(w.stats.badVersion, 1);
});

test('writer - a deleted node comes back as node-gone and the writer detaches', async () => {
  const node = new FakeNode();
  const w = writerFor(node, { value: 1 });
  node.exists = false;
  const o = await w.request();
  assert.deepEqual(o, { kind: 'node-gone' });
  assert.equal(w.attached, false);
  assert.equal(w.flush(), undefined, 'detached: nothing to drive');
  assert.deepEqual(await w.request(), { kind: 'detached' });
});

test('writer - connection loss is returned, the writer stays attached and flush() writes later', async () => {
  const node = new FakeNode();
  const truth = { value: 3 };
  const w = writerFor(node, truth);
  node.failNext = [C.ZCONNECTIONLOSS];
  const o = await w.request();
  assert.equal(o.kind, 'connection-lost');
  assert.equal(w.attached, true);
  assert.equal(w.upToDate, false);
  assert.equal(w.stats.failures, 1);
  await tick();
  assert.equal(node.sets, 0, 'no retry of its own');
  const again = await w.flush();
  assert.equal(again?.kind, 'written');
  assert.equal(node.data, 3);
});

test('writer - no client (session being replaced) counts as connection loss; other errors as failed', async () => {
  const node = new FakeNode();
  const w = new NodeWriter<number>({ path: '/t/x', client: () => { throw new ClosedError('ZooKeeper session'); }, supply: () => 1, encode: (v) => Buffer.from(String(v)), minWriteIntervalMs: 0 });
  w.attach(0, 0);
  assert.equal((await w.request()).kind, 'connection-lost');
  const w2 = writerFor(node, { value: 1 });
  node.failNext = [C.ZNOAUTH];
  const o = await w2.request();
  assert.equal(o.kind, 'failed');
  assert.ok(o.kind === 'failed' && o.error instanceof ZkError && o.error.zkCode === C.ZNOAUTH);
});

test('writer - the delay policy decides the wait and sees the pending requests', async () => {
  const node = new FakeNode();
  const seen: WriteDelayContext[] = [];
  const w = writerFor(node, { value: 4 }, { delayPolicy: (ctx) => (seen.push(ctx), 30) });
  w.request();
  w.request();
  const p = w.request();
  await tick();
  assert.equal(node.sets, 0, 'still waiting for the policy delay');
  assert.equal((await p).kind, 'written');
  assert.equal(node.sets, 1);
  // Asked again at every request (a later one may be more urgent), and the wait was not pushed back.
  assert.deepEqual(seen.map((c) => c.pending), [1, 2, 3]);
  assert.equal(seen[0]!.minWriteIntervalMs, 0);
});

test('writer - a later, more urgent request brings a pending write forward, never back', async () => {
  const node = new FakeNode();
  const delays = [10_000, 0, 60_000];
  const w = writerFor(node, { value: 4 }, { delayPolicy: () => delays.shift() ?? 60_000 });
  const first = w.request();
  await tick();
  assert.equal(node.sets, 0, 'the first request may wait 10 s');
  const second = w.request(); // the policy now says: at once
  w.request(); // and a third one that could wait a minute does not delay it again
  assert.equal((await second).kind, 'written');
  assert.equal((await first).kind, 'written', 'both requests are carried by the same write');
  assert.equal(node.sets, 1);
});

test('writer - observe sees every outcome with its duration', async () => {
  const node = new FakeNode();
  const seen: string[] = [];
  const w = new NodeWriter<number>({ path: '/t/o', client: () => node.client(), supply: () => 1, encode: (v) => Buffer.from(String(v)), minWriteIntervalMs: 0, observe: (o, s) => seen.push(`${o.kind}:${s >= 0}`) });
  w.attach(0, 0);
  await w.request();
  node.failNext = [C.ZOPERATIONTIMEOUT];
  await w.request();
  assert.deepEqual(seen, ['written:true', 'connection-lost:true']);
});
