import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Trend } from '../stats/index.js';
import { kthLargest, largestBy, type Rankable, SYMBOL_ORDERS, trendOrder } from './order.js';

function key(
  name: string,
  score: number,
  windowRequests = 0,
  timeouts = 0,
  totalRequests = 0,
  trend: Trend = 'stable',
  down = false,
): Rankable {
  return {
    name,
    score,
    down,
    trend,
    window: { requests: windowRequests, timeouts },
    totals: { requests: totalRequests, timeouts },
  };
}

const names = (list: Rankable[]) => list.map((k) => k.name);

describe('symbol orders', () => {
  test('score: worst first, NaN last, ties by window requests then name', () => {
    const list = [
      key('nan', Number.NaN, 100),
      key('b', 2, 5),
      key('a', 2, 5),
      key('busy', 2, 50),
      key('worst', 10, 1),
      key('best', 0.1, 3),
    ];
    assert.deepEqual(names(list.sort(SYMBOL_ORDERS.score)), ['worst', 'busy', 'a', 'b', 'best', 'nan']);
  });

  test('score: down first (by window requests, then name), then the slow ones, then the rest', () => {
    const list = [
      key('quiet', Number.NaN, 3, 3),
      key('slow', 4, 20),
      key('down-b', Number.NaN, 12, 12, 12, 'stable', true),
      key('fast', 0.2, 20),
      key('down-busy', Number.NaN, 30, 30, 30, 'stable', true),
      key('down-a', Number.NaN, 12, 12, 12, 'stable', true),
      key('timing-out', 3.3, 20, 6),
    ];
    assert.deepEqual(names(list.sort(SYMBOL_ORDERS.score)), [
      'down-busy',
      'down-a',
      'down-b',
      'slow',
      'timing-out',
      'fast',
      'quiet',
    ]);
  });

  test('requests and timeouts: the window first, then totals, then name', () => {
    const list = [
      key('x', 1, 5, 0, 100),
      key('y', 1, 5, 0, 200),
      key('z', 1, 9, 0, 1),
      key('w', 1, 5, 0, 200),
    ];
    assert.deepEqual(names(list.sort(SYMBOL_ORDERS.requests)), ['z', 'w', 'y', 'x']);
    const t = [key('p', 1, 0, 1), key('q', 1, 0, 3), key('r', 1, 0, 3)];
    assert.deepEqual(names(t.sort(SYMBOL_ORDERS.timeouts)), ['q', 'r', 'p']);
  });

  test('name', () => {
    assert.deepEqual(names([key('b', 1), key('BTC/USD', 1), key('AAPL', 1)].sort(SYMBOL_ORDERS.name)), [
      'AAPL',
      'BTC/USD',
      'b',
    ]);
  });

  test('trends: degrading, unknown, improving; by score within each', () => {
    const list = [
      key('imp', 9, 0, 0, 0, 'improving'),
      key('unk', 1, 0, 0, 0, 'unknown'),
      key('deg-low', 1, 0, 0, 0, 'degrading'),
      key('deg-high', 5, 0, 0, 0, 'degrading'),
      key('unk-nan', Number.NaN, 0, 0, 0, 'unknown'),
      key('deg-down', Number.NaN, 10, 10, 10, 'degrading', true),
    ];
    assert.deepEqual(names(list.sort(trendOrder)), [
      'deg-down',
      'deg-high',
      'deg-low',
      'unk',
      'unk-nan',
      'imp',
    ]);
  });
});

describe('largestBy', () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  type Item = { id: number; v: number };
  const key = (x: Item) => x.v;
  const tie = (a: Item, b: Item) => a.id - b.id;
  const full = (items: Item[]) => [...items].sort((a, b) => b.v - a.v || a.id - b.id);

  test('equals a full sort cut to n, for every n and input order', () => {
    const random = Array.from({ length: 300 }, (_, i) => ({ id: i, v: Math.floor(rnd() * 50) }));
    const inputs: Record<string, Item[]> = {
      random,
      ascending: [...random].sort((a, b) => a.v - b.v),
      descending: [...random].sort((a, b) => b.v - a.v),
      'all equal': random.map((x) => ({ id: x.id, v: 7 })),
      distinct: random.map((x) => ({ id: x.id, v: x.id * 1.5 })),
    };
    for (const [name, items] of Object.entries(inputs)) {
      for (const n of [0, 1, 2, 7, 50, 299, 300, 1000]) {
        assert.deepEqual(largestBy(items, n, key, tie), full(items).slice(0, n), `${name}, n = ${n}`);
      }
    }
  });

  test('kthLargest', () => {
    for (let trial = 0; trial < 50; trial++) {
      const values = Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 20));
      const sorted = [...values].sort((a, b) => b - a);
      const k = 1 + Math.floor(rnd() * values.length);
      assert.equal(kthLargest(Float64Array.from(values), k), sorted[k - 1]);
    }
  });
});
