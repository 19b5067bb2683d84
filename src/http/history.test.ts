import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HISTORY_MINUTES, MinuteHistory } from './history.js';

const MIN = 60_000;
const T0 = 1_700_000_040_000; // a minute boundary

describe('minute history', () => {
  test('60 points ending with the current minute, the latest value in a minute winning', () => {
    const h = new MinuteHistory();
    h.record('s', T0 - 2 * MIN + 5_000, 0.5, 1);
    h.record('s', T0 + 1_000, 0.7, 0.9);
    h.record('s', T0 + 50_000, 0.8, 0.95);
    const p = h.points('s', T0 + 59_000);
    assert.equal(p.p95.length, HISTORY_MINUTES);
    assert.equal(p.startMs, T0 - 59 * MIN);
    assert.deepEqual(p.p95.slice(-3), [0.5, null, 0.8]);
    assert.deepEqual(p.rate.slice(-3), [1, null, 0.95]);
    assert.equal(p.p95.filter((v) => v !== null).length, 2);
  });

  test('NaN is null', () => {
    const h = new MinuteHistory();
    h.record('s', T0, Number.NaN, 0);
    h.record('s', T0 + MIN, 1.5, 1);
    const now = h.points('s', T0 + MIN);
    assert.deepEqual(now.p95.slice(-2), [null, 1.5]);
    assert.deepEqual(now.rate.slice(-2), [0, 1]);
  });

  test('a slot written an hour ago is not mistaken for this minute', () => {
    const h = new MinuteHistory();
    h.record('s', T0, 0.9, 1);
    h.record('s', T0 + MIN, 1.5, 1);
    const later = h.points('s', T0 + 60 * MIN);
    assert.equal(later.p95.at(-1), null, 'the slot of T0 + 60 min still holds T0');
    assert.equal(later.p95.at(0), 1.5);
  });

  test('an unknown key is all null', () => {
    const p = new MinuteHistory().points('nope', T0);
    assert.equal(
      p.p95.every((v) => v === null),
      true,
    );
    assert.equal(
      p.rate.every((v) => v === null),
      true,
    );
  });
});
