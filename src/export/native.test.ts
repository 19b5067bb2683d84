import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NativeBuckets, NativeLayout } from './native.js';

test('schema 5: powers of two and every bucket bound are the upper bound of their bucket', () => {
  const layout = new NativeLayout({ schema: 5, zeroThreshold: 2 ** -11 });
  assert.equal(layout.index(1), 0);
  assert.equal(layout.index(2), 32);
  assert.equal(layout.index(0.5), -32);
  assert.equal(layout.index(4), 64);
  assert.equal(layout.index(2 ** -11), -352);
  assert.equal(layout.minIndex, -352);
  assert.equal(layout.maxIndex, 768);
  for (let i = -351; i <= 224; i++) {
    const bound = layout.upperBound(i);
    assert.ok(Math.abs(bound / 2 ** (i / 32) - 1) < 1e-15, `bucket ${i} ends at 2^(${i}/32)`);
    assert.equal(layout.index(bound), i, `the bound of bucket ${i}`);
    assert.equal(layout.index(2 ** ((i - 0.5) / 32)), i, `the middle of bucket ${i}`);
    assert.equal(layout.index(bound * (1 + 1e-12)), i + 1, `just above the bound of bucket ${i}`);
  }
  // Latencies as they come: 0.1 s, 0.3 s, 4 s, 10 s.
  assert.equal(layout.index(0.1), -106); // 2^(-107/32) = 0.0987 < 0.1 <= 2^(-106/32) = 0.1009
  assert.equal(layout.index(0.3), -55);
  assert.equal(layout.index(4.05), 65);
  assert.equal(layout.index(10), 107);
  assert.equal(layout.index(2 ** 30), 768, 'above 2^24: the top bucket');
  assert.equal(layout.index(Number.POSITIVE_INFINITY), 768);
});

test('schemas 0 and 8 map like the Go client', () => {
  const s0 = new NativeLayout({ schema: 0, zeroThreshold: 1e-3 });
  assert.deepEqual(
    [0.75, 1, 1.5, 2, 3, 4, 1000, 1025].map((v) => s0.index(v)),
    [0, 0, 1, 1, 2, 2, 10, 11],
  );
  const s8 = new NativeLayout({ schema: 8, zeroThreshold: 1e-3 });
  assert.equal(s8.index(1), 0);
  assert.equal(s8.index(s8.upperBound(1)), 1);
  assert.equal(s8.index(s8.upperBound(1) * (1 + 1e-15)), 2);
  // The bounds are correctly rounded: 2^(-1/2) and 2^(1/2) as IEEE square roots are.
  const s5 = new NativeLayout({ schema: 5, zeroThreshold: 1e-3 });
  assert.equal(s5.upperBound(-16), Math.SQRT1_2);
  assert.equal(s5.upperBound(16), Math.SQRT2);
  assert.equal(s5.index(Math.SQRT2), 16);
  assert.equal(s8.index(3), 406); // 2^(405/256) = 2.9961, 2^(406/256) = 3.0042
});

test('subnormal values map like normal ones', () => {
  const s0 = new NativeLayout({ schema: 0, zeroThreshold: 2 ** -1074 });
  assert.equal(s0.index(2 ** -1070), -1070);
  assert.equal(s0.index(3 * 2 ** -1071), -1069);
  assert.equal(s0.index(2 ** -1022), -1022);
  assert.equal(s0.index(2 ** -1021 * 0.75), -1021);
});

test('bad layouts are refused', () => {
  assert.throws(
    () => new NativeLayout({ schema: 9, zeroThreshold: 1 }),
    /schema must be an integer from 0 to 8/,
  );
  assert.throws(() => new NativeLayout({ schema: -1, zeroThreshold: 1 }), /schema/);
  assert.throws(() => new NativeLayout({ schema: 1.5, zeroThreshold: 1 }), /schema/);
  assert.throws(
    () => new NativeLayout({ schema: 3, zeroThreshold: 0 }),
    /zero threshold must be a positive number/,
  );
});

test('buckets: the zero bucket takes zero, negatives and values at the threshold; the window grows both ways', () => {
  const b = new NativeBuckets(new NativeLayout({ schema: 0, zeroThreshold: 0.25 }));
  for (const v of [0, -3, 0.25, 0.2]) b.observe(v);
  assert.deepEqual(b.snapshot(), { schema: 0, zeroThreshold: 0.25, zeroCount: 4, spans: [], counts: [] });
  b.observe(5); // bucket 3
  b.observe(6); // bucket 3
  b.observe(0.3); // bucket -1
  b.observe(1000); // bucket 10: a gap of 6, a new span
  b.observe(2 ** 20); // bucket 20
  b.observe(0.26); // bucket -1
  assert.deepEqual(b.snapshot(), {
    schema: 0,
    zeroThreshold: 0.25,
    zeroCount: 4,
    // -1 .. 3 (0, 1, 2 empty: a gap of 3 ends the span), 10, 20.
    spans: [
      { offset: -1, length: 1 },
      { offset: 3, length: 1 },
      { offset: 6, length: 1 },
      { offset: 9, length: 1 },
    ],
    counts: [2, 2, 1, 1],
  });
  b.observe(1.5); // bucket 1: now -1 and 1 and 3 are one span with zeros between
  assert.deepEqual(b.snapshot().spans, [
    { offset: -1, length: 5 },
    { offset: 6, length: 1 },
    { offset: 9, length: 1 },
  ]);
  assert.deepEqual(b.snapshot().counts, [2, 0, 1, 0, 2, 1, 1]);
  // Observing inside the window allocates nothing: the counts stay the same array.
  const counts = b.counts;
  for (let i = 0; i < 1000; i++) b.observe(1 + (i % 100) / 10);
  assert.equal(b.counts, counts);
});
