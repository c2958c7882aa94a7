// The behaviour every history engine must have (memory and Redis run the same tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roomStream, userStream, type HistoryEngine, type HistoryLimitOptions, type StreamRef } from '../../src/messaging/history/history-engine.js';

export interface EngineUnderTest {
  engine: HistoryEngine;
  /** Loses the stream's storage (a flush, an eviction): the next access starts a new epoch. */
  lose(stream: StreamRef): Promise<void>;
  /** Lets `ms` pass for the engine's clock (really waits when the engine has no clock of its own to move). */
  pass(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Registers the contract tests; `make` builds a fresh engine with those limits (and unique stream names come from `name`). */
export function historyContract(label: string, make: (limits: HistoryLimitOptions) => Promise<EngineUnderTest>, name: () => string): void {
  const withEngine = async (limits: HistoryLimitOptions, fn: (e: EngineUnderTest) => Promise<void>) => {
    const e = await make(limits);
    try {
      await e.engine.start();
      await fn(e);
    } finally {
      await e.close();
    }
  };

  test(`${label} - appends count offsets from 1 in one epoch; a read after a position returns exactly the gap, recovered`, () =>
    withEngine({}, async ({ engine }) => {
      const s = userStream(name());
      const p1 = await engine.append(s, { id: 'a', body: { n: 1 } });
      const p2 = await engine.append(s, { id: 'b', body: 'two', from: 'bob' });
      const p3 = await engine.append(s, { id: 3, body: [3] });
      assert.deepEqual([p1.offset, p2.offset, p3.offset], [1, 2, 3]);
      assert.ok(p1.epoch.length > 0 && p1.epoch === p2.epoch && p2.epoch === p3.epoch);
      const gap = await engine.read(s, { from: { position: p1 }, limit: 10 });
      assert.equal(gap.recovered, true);
      assert.deepEqual([gap.epoch, gap.offset, gap.after], [p1.epoch, 3, 1]);
      assert.deepEqual(
        gap.entries.map(({ at, ...e }) => (assert.ok(at > 0), e)),
        [
          { id: 'b', body: 'two', from: 'bob', offset: 2 },
          { id: 3, body: [3], offset: 3 },
        ],
      );
      const none = await engine.read(s, { from: { position: p3 }, limit: 10 });
      assert.deepEqual([none.recovered, none.entries.length, none.after], [true, 0, 3]);
      const top = await engine.read(s, { from: 'top', limit: 10 });
      assert.deepEqual([top.epoch, top.offset, top.entries.length], [p1.epoch, 3, 0]);
      const paged = await engine.read(s, { from: 'start', limit: 2 });
      assert.deepEqual(paged.entries.map((e) => e.offset), [1, 2]);
      assert.deepEqual((await engine.read(s, { from: { offset: 2 }, limit: 2 })).entries.map((e) => e.offset), [3]);
    }));

  test(`${label} - a stream keeps maxMessages: a gap reaching past them is not recovered, what is held still comes`, () =>
    withEngine({ users: { maxMessages: 3 }, rooms: { maxMessages: 2 } }, async ({ engine }) => {
      const s = userStream(name());
      const positions = [];
      for (let i = 1; i <= 5; i++) positions.push(await engine.append(s, { id: i, body: i }));
      const lost = await engine.read(s, { from: { position: positions[0]! }, limit: 10 });
      assert.equal(lost.recovered, false);
      assert.deepEqual(lost.entries.map((e) => e.offset), [3, 4, 5]);
      const held = await engine.read(s, { from: { position: positions[1]! }, limit: 10 });
      assert.equal(held.recovered, true);
      assert.deepEqual(held.entries.map((e) => e.offset), [3, 4, 5]);
      // Rooms have their own limits.
      const r = roomStream(name());
      for (let i = 1; i <= 4; i++) await engine.append(r, { id: i, body: i });
      assert.deepEqual((await engine.read(r, { from: 'start', limit: 10 })).entries.map((e) => e.offset), [3, 4]);
    }));

  test(`${label} - another epoch, or a position past the top, is not recovered; the whole stream is read from its start`, () =>
    withEngine({}, async ({ engine, lose }) => {
      const s = userStream(name());
      const old = await engine.append(s, { id: 1, body: 1 });
      await engine.append(s, { id: 2, body: 2 });
      const ahead = await engine.read(s, { from: { position: { epoch: old.epoch, offset: 9 } }, limit: 10 });
      assert.deepEqual([ahead.recovered, ahead.after, ahead.entries.length], [false, 2, 0]);
      await lose(s);
      const fresh = await engine.append(s, { id: 'x', body: 'after the loss' });
      assert.notEqual(fresh.epoch, old.epoch, 'a lost stream starts a new epoch');
      assert.equal(fresh.offset, 1);
      const r = await engine.read(s, { from: { position: { epoch: old.epoch, offset: 2 } }, limit: 10 });
      assert.deepEqual([r.recovered, r.epoch, r.after], [false, fresh.epoch, 0]);
      assert.deepEqual(r.entries.map((e) => e.body), ['after the loss']);
    }));

  test(`${label} - the acked cursor only moves forward, within the current epoch and the stream's top; a read can start after it`, () =>
    withEngine({}, async ({ engine }) => {
      const user = name();
      const s = userStream(user);
      const p = [];
      for (let i = 1; i <= 4; i++) p.push(await engine.append(s, { id: i, body: i }));
      assert.equal((await engine.read(s, { from: 'acked', limit: 10 })).after, 0, 'nothing acked yet');
      await engine.ack([{ user, position: p[1]! }]);
      await engine.ack([{ user, position: p[0]! }]); // backwards: ignored
      await engine.ack([{ user, position: { epoch: 'another', offset: 4 } }]); // another epoch: ignored
      await engine.ack([{ user, position: { epoch: p[0]!.epoch, offset: 99 } }]); // past the top: ignored
      const r = await engine.read(s, { from: 'acked', limit: 10 });
      assert.deepEqual([r.after, r.recovered], [2, true]);
      assert.deepEqual(r.entries.map((e) => e.offset), [3, 4]);
      // Many users' cursors in one call.
      const others = [name(), name(), name()];
      const pos = await Promise.all(others.map((u) => engine.append(userStream(u), { id: 1, body: 1 })));
      await engine.ack(others.map((u, i) => ({ user: u, position: pos[i]! })));
      for (const u of others) assert.equal((await engine.read(userStream(u), { from: 'acked', limit: 0 })).after, 1);
    }));

  test(`${label} - an append repeated with the same idempotency key is stored once`, () =>
    withEngine({}, async ({ engine }) => {
      const s = userStream(name());
      const a = await engine.append(s, { id: 'once', body: 1 }, { idempotencyKey: 'k-1' });
      const b = await engine.append(s, { id: 'once', body: 1 }, { idempotencyKey: 'k-1' });
      const c = await engine.append(s, { id: 'other', body: 2 }, { idempotencyKey: 'k-2' });
      assert.deepEqual(b, a);
      assert.equal(c.offset, 2);
      assert.deepEqual((await engine.read(s, { from: 'start', limit: 10 })).entries.map((e) => e.id), ['once', 'other']);
    }));

  test(`${label} - messages older than the stream's ttl are dropped; the epoch stays, so the gap reads as not recovered`, () =>
    withEngine({ users: { ttlMs: 1_000 } }, async ({ engine, pass }) => {
      const s = userStream(name());
      const first = await engine.append(s, { id: 1, body: 1 });
      await pass(1_100);
      const second = await engine.append(s, { id: 2, body: 2 });
      assert.equal(second.epoch, first.epoch);
      const r = await engine.read(s, { from: { position: { epoch: first.epoch, offset: 0 } }, limit: 10 });
      assert.equal(r.recovered, false);
      assert.deepEqual(r.entries.map((e) => e.offset), [2]);
    }));

  test(`${label} - appendMany stores each entry in order and returns one position per entry`, () =>
    withEngine({}, async ({ engine }) => {
      const a = userStream(name());
      const b = roomStream(name());
      const out = await engine.appendMany([
        { stream: a, entry: { id: 1, body: 'a1' } },
        { stream: b, entry: { id: 2, body: 'b1' } },
        { stream: a, entry: { id: 3, body: 'a2' } },
      ]);
      assert.deepEqual(out.map((p) => p.offset), [1, 1, 2]);
      assert.deepEqual((await engine.read(a, { from: 'start', limit: 10 })).entries.map((e) => e.body), ['a1', 'a2']);
    }));
}
