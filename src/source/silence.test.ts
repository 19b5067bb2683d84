import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SilenceWatch, silenceRule } from './silence.js';

/** Feeds `perLook` messages at every look, `everyMs` apart, from `from` for `forMs`; returns the end time. */
function feed(
  w: SilenceWatch,
  state: { t: number; total: number },
  everyMs: number,
  perLook: number,
  forMs: number,
) {
  const end = state.t + forMs;
  while (state.t < end) {
    state.t += everyMs;
    state.total += perLook;
    w.observe(state.t, state.total);
  }
}

describe('SilenceWatch', () => {
  it('declares a 1,000 msg/s feed silent at the 3 s floor, not before', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 250, 250, 30_000);
    assert.equal(w.meanGapMs(), 1);
    assert.equal(w.thresholdMs(), 3000);
    assert.equal(w.overdue(s.t + 2999), false);
    assert.equal(w.overdue(s.t + 3000), true);
  });

  it('does not declare a tiny fleet with 30 s gaps silent at 31 s; the ceiling bounds it at 60 s', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 30_000, 1, 300_000);
    assert.equal(w.meanGapMs(), 30_000);
    assert.equal(w.thresholdMs(), 60_000);
    assert.equal(w.overdue(s.t + 31_000), false);
    assert.equal(w.overdue(s.t + 59_999), false);
    assert.equal(w.overdue(s.t + 60_000), true);
  });

  it('scales with the rate between floor and ceiling: 2 msg/s gives 5 s', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 500, 1, 120_000);
    assert.equal(Math.round(w.thresholdMs()), 5000);
  });

  it('never goes beyond the configured ceiling, even under the floor', () => {
    const w = new SilenceWatch(silenceRule(2000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 250, 50, 10_000);
    assert.equal(w.thresholdMs(), 2000);
    assert.equal(w.overdue(s.t + 1999), false);
    assert.equal(w.overdue(s.t + 2000), true);
  });

  it('a fleet sending in bursts (500 messages within a second, once a minute) is not silent between bursts', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    for (let burst = 0; burst < 5; burst++) {
      feed(w, s, 250, 125, 1000);
      assert.equal(w.overdue(s.t + 3000), false, `after burst ${burst}`);
      s.t += 59_000;
    }
    assert.equal(Math.round(w.meanGapMs()), 118);
    assert.equal(w.thresholdMs(), 60_000);
  });

  it('applies the ceiling until 10 s of the feed have been measured', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 250, 250, 10_000);
    assert.equal(w.thresholdMs(), 60_000, 'the first look measures no gap: 9.75 s measured');
    feed(w, s, 250, 250, 250);
    assert.equal(w.thresholdMs(), 3_000);
  });

  it("lets the clock stand for stream time the feed's expected lull past its last message", () => {
    const fast = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    fast.connected(0);
    assert.equal(fast.clockGraceMs(), 60_000, 'before any measure: the ceiling');
    feed(fast, s, 250, 250, 30_000);
    // Looks every 250 ms see no gap shorter than a look: twice that.
    assert.equal(fast.clockGraceMs(), 500);
    const slow = new SilenceWatch(silenceRule(60_000));
    const u = { t: 0, total: 0 };
    slow.connected(0);
    feed(slow, u, 1000, 1, 60_000);
    assert.equal(Math.round(slow.clockGraceMs()), 10_000);
    assert.equal(new SilenceWatch(silenceRule(0)).clockGraceMs(), Number.POSITIVE_INFINITY);
  });

  it('is off with a ceiling of 0', () => {
    const w = new SilenceWatch(silenceRule(0));
    w.connected(0);
    w.observe(100, 5);
    w.observe(200, 10);
    assert.equal(w.enabled, false);
    assert.equal(w.overdue(1e9), false);
  });

  it('arms only once a message has come through the connection', () => {
    const w = new SilenceWatch(silenceRule(5000));
    w.connected(0);
    assert.equal(w.overdue(1e6), false);
    w.observe(1000, 0);
    assert.equal(w.overdue(1e6), false, 'a look that finds nothing new does not arm it');
    w.observe(1000, 1);
    assert.equal(w.overdue(5999), false);
    assert.equal(w.overdue(6000), true);
  });

  it('after a declared silence, stays silent until a message arrives, and does not re-arm on reconnect alone', () => {
    const w = new SilenceWatch(silenceRule(5000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 250, 10, 12_000);
    const last = s.t;
    assert.equal(w.overdue(last + 3000), true);
    w.declare();
    assert.equal(w.isSilent, true);
    assert.equal(w.sinceLastMessageMs(last + 3000), 3000);
    w.connected(s.total);
    assert.equal(w.overdue(last + 100_000), false);
    assert.equal(w.isSilent, true);
    assert.equal(w.sinceLastMessageMs(last + 12_300), 12_300);
    w.observe(last + 13_000, s.total + 1);
    assert.equal(w.isSilent, false);
    assert.equal(w.sinceLastMessageMs(last + 13_000), 0);
    // The gap across the silence is not measured: the next message on the new connection is the first.
    assert.equal(Math.round(w.meanGapMs() * 1000) / 1000, 25);
  });

  it('keeps the mean over the recent horizon: a feed that slows from 100 to 1 msg/s is near 10 s ten minutes later', () => {
    const w = new SilenceWatch(silenceRule(60_000));
    const s = { t: 0, total: 0 };
    w.connected(0);
    feed(w, s, 250, 25, 60_000);
    assert.equal(w.thresholdMs(), 3000);
    feed(w, s, 1000, 1, 300_000);
    assert.equal(Math.round(w.thresholdMs()), 7047, 'five minutes on, the fast minute still weighs');
    feed(w, s, 1000, 1, 300_000);
    assert.equal(Math.round(w.thresholdMs()), 9972);
  });
});
