import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter, TokenBucket } from './limits.js';

test('token bucket: the burst at once, then the rate; the wait is whole seconds, at least 1', () => {
  const b = new TokenBucket(2, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0)], [0, 0, 0]);
  assert.equal(b.take(0), 1);
  // Half a second at 2/s brings one token back, and one only.
  assert.equal(b.take(500), 0);
  assert.equal(b.take(500), 1);
  // A long pause refills up to the burst, not beyond.
  assert.deepEqual([b.take(60_000), b.take(60_000), b.take(60_000), b.take(60_000)], [0, 0, 0, 1]);
});

test('token bucket: a slow rate asks for a longer wait', () => {
  const b = new TokenBucket(0.25, 1, 0);
  assert.equal(b.take(0), 0);
  assert.equal(b.take(0), 4);
  assert.equal(b.take(2000), 2);
  assert.equal(b.take(4000), 0);
});

test('rate limiter: one bucket per client', () => {
  let now = 0;
  const r = new RateLimiter(1, 2, 10, () => now);
  assert.deepEqual([r.take('a'), r.take('a'), r.take('a')], [0, 0, 1]);
  assert.deepEqual([r.take('b'), r.take('b'), r.take('b')], [0, 0, 1]);
  now = 1000;
  assert.deepEqual([r.take('a'), r.take('a')], [0, 1]);
  assert.equal(r.clients, 2);
  assert.equal(r.evicted, 0);
});

test('rate limiter: bounded, the least recently seen client is forgotten first', () => {
  const r = new RateLimiter(1, 1, 2, () => 0);
  assert.equal(r.take('a'), 0);
  assert.equal(r.take('b'), 0);
  // a is seen again (refused), so b is now the least recently seen.
  assert.equal(r.take('a'), 1);
  assert.equal(r.take('c'), 0);
  assert.equal(r.clients, 2);
  assert.equal(r.evicted, 1);
  // a kept its empty bucket.
  assert.equal(r.take('a'), 1);
  // b was forgotten: it starts with a full bucket, and c (now the least recently seen) goes.
  assert.equal(r.take('b'), 0);
  assert.equal(r.evicted, 2);
  // So does a, for c, which starts full again.
  assert.equal(r.take('c'), 0);
  assert.equal(r.evicted, 3);
  assert.equal(r.take('b'), 1, 'b kept its bucket');
});

test('rate limiter: a rate of 0 lets everything through and keeps nothing', () => {
  const r = new RateLimiter(0, 1, 2, () => 0);
  assert.equal(r.enabled, false);
  for (let i = 0; i < 100; i++) assert.equal(r.take(`client-${i}`), 0);
  assert.equal(r.clients, 0);
});
