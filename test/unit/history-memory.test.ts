import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveHistoryLimits } from '../../src/messaging/history/history-engine.js';
import { MemoryHistory } from '../../src/messaging/history/memory-history.js';
import { historyEngineOf } from '../../src/messaging/history/history-options.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { historyContract } from '../helpers/history-contract.js';

let n = 0;
historyContract(
  'history memory',
  async (limits) => {
    let now = 1_000_000;
    const engine = new MemoryHistory(limits, () => now);
    return {
      engine,
      lose: async () => engine.clear(),
      pass: async (ms) => void (now += ms),
      close: () => engine.close(),
    };
  },
  () => `m-${++n}`,
);

test('history options - defaults, bounds and the one-engine rule', () => {
  const d = resolveHistoryLimits();
  assert.deepEqual(d.users, { maxMessages: 1_000, ttlMs: 86_400_000 });
  assert.deepEqual(d.rooms, { maxMessages: 100, ttlMs: 300_000 });
  assert.equal(d.metaTtlMs, 30 * 86_400_000);
  for (const bad of [{ users: { maxMessages: 0 } }, { rooms: { ttlMs: 10 } }, { users: { maxMessages: 1.5 } }, { metaTtlMs: 60_000, users: { ttlMs: 120_000 } }]) {
    assert.throws(() => resolveHistoryLimits(bad), InvalidArgumentError, JSON.stringify(bad));
  }
  assert.equal(historyEngineOf(undefined), undefined, 'no history: no engine (and no Redis connection)');
  assert.throws(() => historyEngineOf({}), /exactly one of redis, memory or engine/);
  assert.throws(() => historyEngineOf({ memory: true, redis: 'redis://127.0.0.1:1' }), /exactly one/);
  assert.throws(() => historyEngineOf({ redis: 'http://x' }), /redis:\/\//);
  const shared = new MemoryHistory();
  assert.deepEqual(historyEngineOf({ engine: shared }), { engine: shared, owned: false });
  const made = historyEngineOf({ memory: true, rooms: { maxMessages: 7 } })!;
  assert.equal(made.owned, true);
  assert.equal(made.engine.limits.rooms.maxMessages, 7);
  void made.engine.close();
  void shared.close();
});
