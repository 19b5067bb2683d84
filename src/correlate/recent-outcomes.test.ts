import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentStore } from './recent-outcomes.js';

test('each slot keeps its latest ten outcomes, oldest first; a released slot is reused empty', () => {
  const store = new RecentStore();
  const a = store.alloc();
  const b = store.alloc();
  for (let i = 0; i < 13; i++)
    store.record(a, i, `S${i}`, i % 2 === 0 ? 'response' : 'timeout', 0.31, 'UPDATE');
  store.record(b, 100, 'AAPL', 'late', Number.NaN, 'NEW');
  const list = store.list(a);
  assert.deepEqual(
    list.map((r) => r.symbol),
    ['S3', 'S4', 'S5', 'S6', 'S7', 'S8', 'S9', 'S10', 'S11', 'S12'],
  );
  assert.deepEqual(list[0], {
    requestedAt: 3,
    symbol: 'S3',
    outcome: 'timeout',
    latencySeconds: 0.31,
    replyType: 'UPDATE',
  });
  assert.equal(store.list(b)[0]!.replyType, 'NEW');
  assert.ok(Number.isNaN(store.list(b)[0]!.latencySeconds));
  store.release(a);
  const c = store.alloc();
  assert.equal(c, a);
  assert.deepEqual(store.list(c), []);
});
