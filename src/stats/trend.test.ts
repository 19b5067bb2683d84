import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lognormal, mulberry32 } from '../../test/helpers/random.js';
import { DEFAULT_TREND_CONFIG, type Trend, TrendTracker } from './trend.js';

const MINUTE = 60_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (5 * MINUTE));
const EVERY = 5_000; // one quote every 5 s: 60 per recent window, 720 per baseline hour

interface Load {
  /** Mean latency at minute m. */
  mean: (minute: number) => number;
  /** Failure probability at minute m. */
  failure?: (minute: number) => number;
}

/**
 * Feeds `load` for `minutes` minutes and returns the trend checked at the end of every minute from
 * `checkFrom` on.
 */
function run(seed: number, load: Load, minutes: number, checkFrom: number): Trend[] {
  const random = mulberry32(seed);
  const latency = lognormal(random, 0.5);
  const tracker = new TrendTracker(DEFAULT_TREND_CONFIG);
  const trends: Trend[] = [];
  for (let t = 0; t < minutes * MINUTE; t += EVERY) {
    const minute = Math.floor(t / MINUTE);
    if (random() < (load.failure?.(minute) ?? 0)) tracker.failure(T0 + t);
    else tracker.response(T0 + t, latency(load.mean(minute)));
    if ((t + EVERY) % MINUTE === 0 && minute + 1 >= checkFrom) trends.push(tracker.trend(T0 + t + EVERY - 1));
  }
  return trends;
}

function count(trends: Trend[]): Record<Trend, number> {
  const c: Record<Trend, number> = { degrading: 0, stable: 0, improving: 0, unknown: 0 };
  for (const t of trends) c[t]++;
  return c;
}

test('a 2x latency regression is degrading within 10 minutes of the change', () => {
  // Checks at the end of minutes 61..90; the change happens at minute 60.
  const trends = run(1, { mean: (m) => (m < 60 ? 0.5 : 1.0) }, 90, 61);
  const first = trends.indexOf('degrading') + 1;
  assert.equal(first, 4, trends.join(' '));
  assert.ok(first <= 10);
  // and it stays flagged while the baseline still remembers the old latency
  assert.deepEqual(count(trends.slice(first - 1, 25)), {
    degrading: 22,
    stable: 0,
    improving: 0,
    unknown: 0,
  });
});

test('unchanged noisy latency stays stable at every check over 2 hours', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    // An hour to fill the baseline, then a check every minute for two hours.
    const trends = run(seed, { mean: () => 0.5 }, 180, 61);
    assert.deepEqual(count(trends), { degrading: 0, stable: 120, improving: 0, unknown: 0 }, `seed ${seed}`);
  }
});

test('a 2x latency improvement is improving', () => {
  const trends = run(3, { mean: (m) => (m < 60 ? 1.0 : 0.5) }, 70, 61);
  assert.equal(trends.indexOf('improving') + 1, 3, trends.join(' '));
  assert.equal(trends[9], 'improving');
});

test('a failure rate jumping from 0 % to 20 % is degrading', () => {
  const trends = run(4, { mean: () => 0.5, failure: (m) => (m < 60 ? 0 : 0.2) }, 70, 61);
  // three failures in the first minute against none in the hour before
  assert.equal(trends.indexOf('degrading') + 1, 1, trends.join(' '));
  assert.equal(trends[9], 'degrading');
  const tracker = new TrendTracker(DEFAULT_TREND_CONFIG);
  const random = mulberry32(4);
  for (let t = 0; t < 65 * MINUTE; t += EVERY) {
    if (t >= 60 * MINUTE && random() < 0.2) tracker.failure(T0 + t);
    else tracker.response(T0 + t, 0.5);
  }
  const d = tracker.detail(T0 + 65 * MINUTE - 1);
  assert.equal(d.trend, 'degrading');
  assert.equal(d.baselineRequests, 720);
  assert.equal(d.baselineFailureRate, 0);
  assert.equal(d.recentRequests, 60);
  assert.equal(d.recentFailureRate, 9 / 60);
  assert.equal(Math.round(d.z * 100) / 100, 10.45);
  // identical latencies: no latency change, up to rounding in the sums
  assert.equal(Math.round(d.ratio * 1e9) / 1e9, 1);
  assert.ok(Math.abs(d.t) < 1e-6, String(d.t));
});

test('too little data is unknown', () => {
  const tracker = new TrendTracker(DEFAULT_TREND_CONFIG);
  assert.equal(tracker.trend(T0), 'unknown');
  // A full baseline but only 19 recent samples.
  for (let t = 0; t < 60 * MINUTE; t += EVERY) tracker.response(T0 + t, 0.5);
  const quiet = T0 + 66 * MINUTE;
  for (let k = 0; k < 19; k++) tracker.response(quiet + k * 1000, 5);
  const d = tracker.detail(quiet + 20_000);
  assert.equal(d.recentSamples, 19);
  assert.equal(d.trend, 'unknown');
  tracker.response(quiet + 20_000, 5);
  assert.equal(tracker.trend(quiet + 20_000), 'degrading');
  // Only a recent window, no baseline yet.
  const fresh = new TrendTracker(DEFAULT_TREND_CONFIG);
  for (let k = 0; k < 100; k++) fresh.response(T0 + k * 1000, 0.5);
  assert.equal(fresh.trend(T0 + 100_000), 'unknown');
});

test('the baseline is the hour before the recent window, and an idle key frees its history', () => {
  const tracker = new TrendTracker(DEFAULT_TREND_CONFIG);
  assert.equal(tracker.approxBytes(), 120);
  for (let t = 0; t < 10 * MINUTE; t += EVERY) tracker.response(T0 + t, 0.5);
  let d = tracker.detail(T0 + 10 * MINUTE - 1);
  // Minutes 5..9 are the 5 one-minute buckets of the recent window, minutes 0..4 the baseline.
  assert.deepEqual([d.baselineSamples, d.recentSamples], [60, 60]);
  assert.equal(Math.round(d.baselineMean * 1e9) / 1e9, 0.5);
  assert.equal(tracker.approxBytes(), 120 + 192 + 18 * 4 * 8);
  // 65 minutes after the last sample everything has aged out of the baseline except minutes 5..9.
  d = tracker.detail(T0 + 70 * MINUTE);
  assert.deepEqual([d.baselineSamples, d.recentSamples], [60, 0]);
  assert.equal(tracker.isEmpty(T0 + 75 * MINUTE), true);
  assert.equal(tracker.approxBytes(), 120);
});

test('a key that stops answering altogether is degrading on failures alone', () => {
  const tracker = new TrendTracker(DEFAULT_TREND_CONFIG);
  tracker.failure(T0); // the first thing ever seen about the key
  for (let t = EVERY; t < 60 * MINUTE; t += EVERY) tracker.response(T0 + t, 0.5);
  for (let t = 60 * MINUTE; t < 65 * MINUTE; t += EVERY) tracker.failure(T0 + t);
  const d = tracker.detail(T0 + 65 * MINUTE - 1);
  assert.deepEqual(
    [d.trend, d.recentSamples, d.recentRequests, d.recentFailureRate, d.baselineFailureRate],
    ['degrading', 0, 60, 1, 1 / 720],
  );
  assert.ok(Number.isNaN(d.t));
  assert.ok(Number.isNaN(d.recentMean));
});
