import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mulberry32 } from '../../test/helpers/random.js';
import { emptyTrendDetail, TrendTracker } from './trend.js';
import { emptySnapshot, OutcomeWindow } from './window.js';

const WINDOW = { windowMs: 300_000, slots: 10 };
const TREND = { recentMs: 300_000, baselineMs: 3_600_000 };

/** Drives two keys in lockstep with the same outcomes. */
function feed(
  keys: { w: OutcomeWindow; t: TrendTracker }[],
  rnd: () => number,
  from: number,
  until: number,
  perMs: number,
) {
  for (let now = from; now < until; now += 1 + Math.floor(rnd() / perMs)) {
    const r = rnd();
    const latency = Math.exp(rnd() * 6 - 4);
    for (const k of keys) {
      if (r < 0.8) {
        k.w.response(now, latency);
        k.t.response(now, latency);
      } else if (r < 0.9) {
        k.w.timeout(now);
        k.t.failure(now);
      } else if (r < 0.95) k.w.error(now);
      else if (r < 0.98) k.w.late(now);
      else k.w.nonQuote(now);
    }
  }
}

describe('window and trend state', () => {
  for (const [label, perMs] of [
    ['a quiet key (raw samples only)', 1 / 5_000],
    ['a busy key (window total and slot histograms)', 1 / 20],
  ] as const) {
    test(`${label}: a restored key answers as the original did, now and as both go on`, () => {
      const rnd = mulberry32(label.length);
      const a = { w: new OutcomeWindow(WINDOW), t: new TrendTracker(TREND) };
      feed([a], rnd, 0, 4_000_000, perMs);
      const ws = a.w.saveState();
      const ts = a.t.saveState();
      assert.ok(ws !== null && ts !== null);
      const b = { w: new OutcomeWindow(WINDOW), t: new TrendTracker(TREND) };
      // Through JSON, as a snapshot file holds them.
      b.w.loadState(JSON.parse(JSON.stringify(ws)));
      b.t.loadState(JSON.parse(JSON.stringify(ts)));
      const same = (now: number) => {
        assert.deepEqual(
          b.w.snapshot(now, emptySnapshot()),
          a.w.snapshot(now, emptySnapshot()),
          `window at ${now}`,
        );
        assert.deepEqual(
          b.t.detail(now, emptyTrendDetail()),
          a.t.detail(now, emptyTrendDetail()),
          `trend at ${now}`,
        );
      };
      same(4_000_000);
      feed([a, b], rnd, 4_000_000, 4_400_000, perMs);
      same(4_400_000);
      // Long enough for every slot and baseline bucket to leave.
      same(9_000_000);
      assert.equal(b.w.isEmpty(9_000_000), true);
    });
  }

  test('an empty key saves nothing', () => {
    assert.equal(new OutcomeWindow(WINDOW).saveState(), null);
    assert.equal(new TrendTracker(TREND).saveState(), null);
  });

  test('state of another configuration is refused, not misread', () => {
    const w = new OutcomeWindow(WINDOW);
    w.timeout(1000);
    const t = new TrendTracker(TREND);
    t.failure(1000);
    assert.throws(
      () => new OutcomeWindow({ windowMs: 300_000, slots: 5 }).loadState(w.saveState()!),
      /another slot count/,
    );
    assert.throws(
      () => new TrendTracker({ recentMs: 300_000, baselineMs: 600_000 }).loadState(t.saveState()!),
      /another baseline/,
    );
    assert.throws(
      () => new OutcomeWindow(WINDOW).loadState({ ...w.saveState()!, counters: 'AAA' }),
      /not made of 8-byte elements/,
    );
  });
});
