import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PUBLISH_MAX_DELAY_MS, DEFAULT_PUBLISH_MIN_INTERVAL_MS, publishDelay, urgentReason, type PublishState } from '../../src/registry/publish-policy.js';

const at = (published: number, current: number, sinceWriteMs = 0): PublishState => ({ published, publishedAt: 1_000, current, now: 1_000 + sinceWriteMs });

test('publish policy - a server\'s first and last connections are urgent', () => {
  assert.equal(urgentReason(at(0, 1)), 'first-connections');
  assert.equal(urgentReason(at(3, 2)), 'first-connections');
  assert.equal(urgentReason(at(500, 7)), 'first-connections');
  assert.equal(publishDelay(at(0, 1)), DEFAULT_PUBLISH_MIN_INTERVAL_MS);
  assert.equal(publishDelay(at(0, 1, 50)), 0);
});

test('publish policy - draining (metadata) is urgent even without a balance change', () => {
  assert.equal(urgentReason(at(500, 500), { metadataChanged: true }), 'metadata');
  assert.equal(publishDelay(at(500, 500, 5), { metadataChanged: true }), DEFAULT_PUBLISH_MIN_INTERVAL_MS - 5);
});

test('publish policy - reaching or leaving the cap is urgent, moving below it is not', () => {
  assert.equal(urgentReason(at(999, 1000), { maxConnections: 1000 }), 'cap');
  assert.equal(urgentReason(at(1000, 999), { maxConnections: 1000 }), 'cap');
  assert.equal(urgentReason(at(990, 995), { maxConnections: 1000 }), undefined);
});

test('publish policy - crossing into or out of the lowest group is urgent', () => {
  assert.equal(urgentReason(at(200, 201), { clusterMin: 200 }), undefined, 'still within the band');
  assert.equal(urgentReason(at(201, 202), { clusterMin: 200 }), 'lowest-group');
  assert.equal(urgentReason(at(203, 201), { clusterMin: 200 }), 'lowest-group');
  assert.equal(urgentReason(at(300, 303), { clusterMin: 200 }), undefined);
});

test('publish policy - a small change waits longer than a larger one, never past the max', () => {
  const one = publishDelay(at(1000, 1001));
  const ten = publishDelay(at(1000, 1010));
  const fifty = publishDelay(at(1000, 1050));
  assert.ok(one > ten && ten > fifty, `${one} > ${ten} > ${fifty}`);
  assert.ok(one <= DEFAULT_PUBLISH_MAX_DELAY_MS);
  assert.equal(urgentReason(at(1000, 1100)), 'large-change');
  assert.equal(publishDelay(at(1000, 1100)), DEFAULT_PUBLISH_MIN_INTERVAL_MS);
  // A balance back at what ZooKeeper holds still gets written (the generation moved), as late as allowed.
  assert.equal(publishDelay(at(1000, 1000)), DEFAULT_PUBLISH_MAX_DELAY_MS);
});

test('publish policy - the wait counts from the last write and every change is due within maxDelayMs', () => {
  for (let current = 8; current < 3000; current += 37) {
    for (const since of [0, 10, 400, 999, 1000, 5000]) {
      const d = publishDelay(at(1000, current, since));
      assert.ok(d >= 0 && d <= DEFAULT_PUBLISH_MAX_DELAY_MS - Math.min(since, DEFAULT_PUBLISH_MAX_DELAY_MS), `${current} after ${since}: ${d}`);
    }
  }
  assert.equal(publishDelay(at(1000, 1001, 5000)), 0);
});

test('publish policy - options move the thresholds', () => {
  assert.equal(urgentReason(at(100, 104), {}, { significantChange: 0.03 }), 'large-change');
  assert.equal(urgentReason(at(20, 21), {}, { firstConnections: 32 }), 'first-connections');
  assert.equal(publishDelay(at(1000, 1001), {}, { maxDelayMs: 200, minIntervalMs: 0 }) <= 200, true);
  assert.equal(publishDelay(at(1000, 1000), {}, { maxDelayMs: 5, minIntervalMs: 20 }), 20, 'the minimum gap wins over a smaller max');
});
