import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHeap } from './heap.js';
import { hash32, mulberry32, Rng, WeightedSampler } from './rng.js';
import { Scheduler } from './scheduler.js';

test('mulberry32 repeats its sequence for a seed', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 5 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 5 }, () => b()),
  );
  assert.notDeepEqual(xs, Array.from({ length: 5 }, mulberry32(43)));
  for (const x of xs) assert.ok(x >= 0 && x < 1, 'x >= 0 && x < 1');
});

test('hash32 is FNV-1a', () => {
  assert.equal(hash32(''), 0x811c9dc5);
  assert.equal(hash32('a'), 0xe40c292c);
  assert.equal(hash32('foobar'), 0xbf9cf968);
});

test('weighted sampler draws in proportion to the weights', () => {
  const sampler = new WeightedSampler(['a', 'b', 'c'], [1, 3, 0]);
  const rng = new Rng(7);
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < 40_000; i++) counts[sampler.sample(rng)]!++;
  assert.equal(counts.c, 0);
  assert.equal(counts.a! + counts.b!, 40_000);
  assert.ok(Math.abs(counts.b! / 40_000 - 0.75) < 0.01, `b share ${counts.b! / 40_000}`);
  assert.throws(() => new WeightedSampler(['a'], [0]), /zero/);
  assert.throws(() => new WeightedSampler([], []), /at least one/);
});

test('the heap pops events by time, and in insertion order at equal times', () => {
  const heap = new EventHeap();
  const rng = new Rng(3);
  const times: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const t = Math.floor(rng.between(0, 500));
    times.push(t);
    heap.push(t, i, 0);
  }
  assert.equal(heap.size, 5000);
  let lastT = -1;
  let lastDev = -1;
  let n = 0;
  while (heap.pop()) {
    assert.ok(heap.time >= lastT, 'heap.time >= lastT');
    if (heap.time === lastT) assert.ok(heap.dev > lastDev, 'ties keep insertion order');
    assert.equal(times[heap.dev], heap.time);
    lastT = heap.time;
    lastDev = heap.dev;
    n++;
  }
  assert.equal(n, 5000);
  assert.equal(heap.peekTime(), Number.POSITIVE_INFINITY);
});

test('the virtual scheduler runs events in time order, including those planned while running', () => {
  const seen: Array<[number, number]> = [];
  const s: Scheduler = new Scheduler(
    () => 0,
    (time, dev, code) => {
      seen.push([time, dev]);
      if (code === 1) s.at(time + 5, dev + 100, 0);
    },
  );
  s.at(30, 3, 0);
  s.at(10, 1, 1);
  s.at(20, 2, 0);
  s.at(10, 4, 0);
  s.runVirtual(Number.POSITIVE_INFINITY);
  assert.deepEqual(seen, [
    [10, 1],
    [10, 4],
    [15, 101],
    [20, 2],
    [30, 3],
  ]);
});

test('the real scheduler runs due events in batches at or after their time', async () => {
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  const seen: Array<{ dev: number; planned: number; ranAt: number }> = [];
  let resolve!: () => void;
  const finished = new Promise<void>((r) => {
    resolve = r;
  });
  const s = new Scheduler(clock, (time, dev) => {
    seen.push({ dev, planned: time, ranAt: clock() });
    if (seen.length === 1003) resolve();
  });
  s.start();
  s.at(60, 3, 0);
  s.at(20, 1, 0);
  s.at(40, 2, 0);
  for (let i = 0; i < 1000; i++) s.at(80, 10 + i, 0);
  await finished;
  s.stop();
  assert.deepEqual(
    seen.slice(0, 4).map((e) => e.dev),
    [1, 2, 3, 10],
  );
  for (const e of seen) assert.ok(e.ranAt >= e.planned, `event ${e.dev} ran early`);
  assert.deepEqual(
    seen.slice(3).map((e) => e.dev),
    Array.from({ length: 1000 }, (_, i) => 10 + i),
  );
  assert.equal(s.heap.size, 0);
});
