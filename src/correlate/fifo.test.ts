import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from './fifo.js';

test('keeps arrival order across wrap-around, growth and shrinking', () => {
  const q = new Fifo<number>(4);
  let next = 0;
  let expected = 0;
  // Interleave pushes and shifts so the head wraps while the ring grows, then drains.
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < (round % 7) + 3; i++) q.push(next++);
    for (let i = 0; i < (round % 5) + 1; i++) assert.equal(q.shift(), expected++);
  }
  while (q.size > 0) assert.equal(q.shift(), expected++);
  assert.equal(expected, next);
  assert.equal(q.shift(), undefined);
  assert.equal(q.peek(), undefined);
});

test('a burst grows the ring and draining it gives the memory back', () => {
  const q = new Fifo<object>(1024);
  for (let i = 0; i < 100_000; i++) q.push({ i });
  assert.equal(q.capacity, 131_072);
  for (let i = 0; i < 100_000 - 10; i++) q.shift();
  assert.equal(q.size, 10);
  assert.equal(q.capacity, 1024);
  for (let i = 0; i < 10; i++) assert.deepEqual(q.shift(), { i: 100_000 - 10 + i });
});

test('clear returns to the minimum capacity', () => {
  const q = new Fifo<number>(8);
  for (let i = 0; i < 100; i++) q.push(i);
  q.clear();
  assert.equal(q.size, 0);
  assert.equal(q.capacity, 8);
  q.push(1);
  assert.equal(q.shift(), 1);
});
