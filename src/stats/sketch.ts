/**
 * Logarithmic bucket mapping in the style of DDSketch (Masson, Rim, Lee, VLDB 2019), fixed to the
 * latency range a TickrMeter quote can take, so that every histogram is a plain typed array indexed by
 * bucket and two histograms can be added or subtracted slot by slot.
 *
 * With relative accuracy `ALPHA` and `GAMMA = (1 + ALPHA) / (1 - ALPHA)`, bucket `i` covers
 * `(MIN_VALUE * GAMMA^(i-1), MIN_VALUE * GAMMA^i]`. Its representative value
 * `MIN_VALUE * GAMMA^i * (1 - ALPHA)` is within `ALPHA` (relative) of every value in the bucket.
 *
 * Clamping: values at or below `MIN_VALUE` (0.5 ms), including 0, negatives and NaN, fall in bucket 0
 * and read back as 0.495 ms; values above `MAX_VALUE` (120 s) fall in the last bucket and read back as
 * about 120 s. A quote faster than 0.5 ms or slower than the device's own timeout carries no information
 * these statistics need, so the bound on relative error only holds inside that range.
 */

export const ALPHA = 0.01;
export const GAMMA = (1 + ALPHA) / (1 - ALPHA);
export const MIN_VALUE = 0.0005;
export const MAX_VALUE = 120;

/**
 * The native histogram layout of the latency histograms (README "Native histograms"): schema 5
 * divides each power of two into 32 buckets, a growth factor of 2^(1/32) = 1.0219 per bucket,
 * so a bucket's geometric middle is within 1.08 % of every value in it: the schema whose error is
 * nearest the sketch's 1 % (schema 6 would be 0.54 % at twice the buckets). The zero threshold
 * 2^-11 s (0.49 ms) is the bucket bound just under `MIN_VALUE`, where the sketch stops telling
 * values apart too. A latency of 0.1 to 10 s spreads over at most 213 buckets.
 */
export const NATIVE_LATENCY_SCHEMA = 5;
export const NATIVE_LATENCY_ZERO_THRESHOLD = 2 ** -11;

const LN_GAMMA = Math.log(GAMMA);
const INV_LN_GAMMA = 1 / LN_GAMMA;

/** Number of buckets: index 0 holds everything up to `MIN_VALUE`, the last one reaches `MAX_VALUE`. */
export const BUCKET_COUNT = Math.ceil(Math.log(MAX_VALUE / MIN_VALUE) * INV_LN_GAMMA) + 1;

const LAST = BUCKET_COUNT - 1;

const VALUES = new Float64Array(BUCKET_COUNT);
for (let i = 0; i < BUCKET_COUNT; i++) VALUES[i] = MIN_VALUE * GAMMA ** i * (1 - ALPHA);

/** Bucket of a latency in seconds, clamped to `[0, BUCKET_COUNT - 1]`. */
export function bucketIndex(seconds: number): number {
  // `!(x > MIN)` also catches NaN, which must not reach Math.ceil and produce a NaN index.
  if (!(seconds > MIN_VALUE)) return 0;
  const i = Math.ceil(Math.log(seconds / MIN_VALUE) * INV_LN_GAMMA);
  return Math.min(i, LAST);
}

/** Representative value of a bucket, within `ALPHA` (relative) of any value mapped to it. */
export function bucketValue(index: number): number {
  return VALUES[index < 0 ? 0 : Math.min(index, LAST)];
}

/**
 * 0-based rank of the order statistic that quantile `q` reports out of `total` values:
 * `floor(q * (total - 1))`, with `q` clamped to 0..1.
 */
export function quantileRank(total: number, q: number): number {
  return Math.floor((q <= 0 ? 0 : Math.min(q, 1)) * (total - 1));
}

/**
 * Quantile `q` (0..1) of a histogram of `total` values, NaN when `total` is 0.
 *
 * Rank convention of DDSketch: with the values sorted as `x[0] <= ... <= x[total-1]`, the result is the
 * representative of the bucket holding `x[floor(q * (total - 1))]`, the first bucket whose cumulative
 * count exceeds `q * (total - 1)`. So for values within `[MIN_VALUE, MAX_VALUE]` the result `v` satisfies
 * `|v - x| <= ALPHA * x` for that exact order statistic `x` (1 % relative error): p95 of 100 values is
 * `x[94]`, of 1 value is that value, of 0 values NaN.
 */
export function quantileFromCounts(counts: Uint32Array, total: number, q: number): number {
  if (!(total > 0)) return Number.NaN;
  const rank = quantileRank(total, q);
  let cumulative = 0;
  for (let i = 0; i < LAST; i++) {
    cumulative += counts[i];
    if (cumulative > rank) return VALUES[i];
  }
  return VALUES[LAST];
}
