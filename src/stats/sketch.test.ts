import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ALPHA,
  BUCKET_COUNT,
  GAMMA,
  MAX_VALUE,
  MIN_VALUE,
  bucketIndex,
  bucketValue,
  quantileFromCounts,
  quantileRank,
} from './sketch.js';

test('the mapping covers 0.5 ms to 120 s in 621 buckets', () => {
  assert.equal(BUCKET_COUNT, 621);
  assert.equal(bucketIndex(MIN_VALUE), 0);
  assert.equal(bucketIndex(MAX_VALUE), BUCKET_COUNT - 1);
  assert.ok(bucketValue(BUCKET_COUNT - 1) >= MAX_VALUE * (1 - ALPHA));
  assert.equal(bucketIndex(1), 381);
  assert.equal(bucketIndex(0.95), 378);
});

test('values outside the range are clamped to the first or last bucket', () => {
  for (const v of [0, -1, Number.NaN, 0.0001, MIN_VALUE]) assert.equal(bucketIndex(v), 0, String(v));
  for (const v of [121, 1e9, Number.POSITIVE_INFINITY])
    assert.equal(bucketIndex(v), BUCKET_COUNT - 1, String(v));
  assert.equal(bucketValue(-3), bucketValue(0));
  assert.equal(bucketValue(10_000), bucketValue(BUCKET_COUNT - 1));
});

test('every value in range reads back within 1 % relative error', () => {
  let worst = 0;
  for (let v = MIN_VALUE * 1.0001; v <= MAX_VALUE; v *= 1.00037) {
    const err = Math.abs(bucketValue(bucketIndex(v)) - v) / v;
    if (err > worst) worst = err;
  }
  assert.ok(worst <= ALPHA + 1e-12, `worst relative error ${worst}`);
  assert.ok(worst > ALPHA * 0.99, 'the bound is tight, the mapping is not finer than promised');
});

test('bucket i covers (gamma^(i-1), gamma^i] from the minimum', () => {
  const i = 200;
  const upper = MIN_VALUE * GAMMA ** i;
  assert.equal(bucketIndex(upper * (1 - 1e-9)), i);
  assert.equal(bucketIndex(upper * (1 + 1e-9)), i + 1);
});

test('quantiles follow the DDSketch rank convention', () => {
  const counts = new Uint32Array(BUCKET_COUNT);
  assert.ok(Number.isNaN(quantileFromCounts(counts, 0, 0.5)));
  // 100 values 0.01, 0.02, ..., 1.00: rank of p95 is floor(0.95 * 99) = 94, the value 0.95.
  for (let k = 1; k <= 100; k++) counts[bucketIndex(k / 100)]++;
  assert.equal(quantileFromCounts(counts, 100, 0.95), bucketValue(bucketIndex(0.95)));
  assert.equal(quantileFromCounts(counts, 100, 0.99), bucketValue(bucketIndex(0.99)));
  assert.equal(quantileFromCounts(counts, 100, 0), bucketValue(bucketIndex(0.01)));
  assert.equal(quantileFromCounts(counts, 100, 1), bucketValue(bucketIndex(1)));
  assert.equal(quantileFromCounts(counts, 100, 0.5), bucketValue(bucketIndex(0.5)));
  assert.equal(quantileRank(100, 0.95), 94);
  assert.equal(quantileRank(100, 0.99), 98);
  assert.equal(quantileRank(1, 0.99), 0);
  assert.equal(quantileRank(100, 7), 99);
  assert.equal(Math.round(quantileFromCounts(counts, 100, 0.95) * 1e6), 950_563);
});

test('a single value is every quantile', () => {
  const counts = new Uint32Array(BUCKET_COUNT);
  counts[bucketIndex(0.31)] = 1;
  for (const q of [0, 0.5, 0.95, 0.99, 1])
    assert.equal(quantileFromCounts(counts, 1, q), bucketValue(bucketIndex(0.31)));
});
