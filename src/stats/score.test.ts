import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_HEALTH_OBJECTIVES, healthScore, isDown, rankingScore } from './score.js';
import { type WindowSnapshot, emptySnapshot } from './window.js';

function snapshot(
  responses: number,
  timeouts: number,
  errors: number,
  p95: number,
  nonQuote = 0,
): WindowSnapshot {
  const s = emptySnapshot();
  s.responses = responses;
  s.timeouts = timeouts;
  s.errors = errors;
  s.requests = responses + timeouts + errors + nonQuote;
  s.responseRate = s.requests ? responses / s.requests : Number.NaN;
  s.p95LatencySeconds = responses ? p95 : Number.NaN;
  s.p99LatencySeconds = s.p95LatencySeconds;
  s.avgLatencySeconds = s.p95LatencySeconds;
  return s;
}

const health = (s: WindowSnapshot) => healthScore(s, DEFAULT_HEALTH_OBJECTIVES);

test('ranking score: 1 response at 0.31 s and 1 timeout with T = 10 s is 5.31 s', () => {
  assert.equal(rankingScore(snapshot(1, 1, 0, 0.31), 10), 5.31);
});

test('ranking score: errors cost the timeout, non-quote answers do not count', () => {
  assert.equal(rankingScore(snapshot(3, 0, 1, 0.5, 5), 10), 0.5 + 10 / 4);
  assert.ok(
    Number.isNaN(rankingScore(snapshot(0, 2, 0, Number.NaN), 10)),
    'answers nothing: down, not ranked',
  );
  assert.equal(rankingScore(snapshot(4, 0, 0, 0.25), 10), 0.25);
  assert.ok(Number.isNaN(rankingScore(snapshot(0, 0, 0, Number.NaN, 3), 10)));
  assert.ok(Number.isNaN(rankingScore(emptySnapshot(), 10)));
});

test('ranking score: a slow symbol outranks a fast one, and timeouts weigh in', () => {
  const slow = rankingScore(snapshot(100, 0, 0, 4), 10);
  const fast = rankingScore(snapshot(100, 0, 0, 0.3), 10);
  const fastButTimingOut = rankingScore(snapshot(70, 30, 0, 0.3), 10);
  assert.equal(slow, 4);
  assert.equal(fast, 0.3);
  assert.equal(fastButTimingOut, 3.3);
  assert.ok(slow > fastButTimingOut && fastButTimingOut > fast);
});

test('health: the worked examples', () => {
  assert.equal(health(snapshot(990, 10, 0, 1.2)), 100);
  assert.equal(health(snapshot(950, 30, 20, 3)), 61.2);
});

test('health: the fixed points', () => {
  assert.ok(Number.isNaN(health(emptySnapshot())));
  assert.ok(Number.isNaN(health(snapshot(0, 0, 0, Number.NaN, 4))), 'only non-quote answers');
  assert.equal(health(snapshot(0, 100, 0, Number.NaN)), 0, 'answers nothing');
  assert.equal(health(snapshot(0, 0, 100, Number.NaN)), 0, 'answers only errors');
  assert.equal(health(snapshot(1000, 0, 0, 2)), 100, 'meets both objectives');
  assert.equal(health(snapshot(1000, 0, 0, 4)), 50, '2x the latency objective');
  assert.equal(health(snapshot(500, 500, 0, 1)), 0, 'answers half');
  assert.equal(health(snapshot(900, 100, 0, 1)), 81.6, 'answers 90 %');
  assert.equal(health(snapshot(1000, 0, 0, 2.2)), 90.9);
  assert.ok(health(snapshot(500, 500, 0, 1)) < health(snapshot(1000, 0, 0, 4)), 'availability dominates');
});

test('health never rises with more failures or more latency', () => {
  let previous = Number.POSITIVE_INFINITY;
  for (let failures = 0; failures <= 1000; failures += 10) {
    const h = health(snapshot(1000 - failures, failures >> 1, failures - (failures >> 1), 1.5));
    assert.ok(h <= previous, `failures ${failures}: ${h} > ${previous}`);
    previous = h;
  }
  assert.equal(previous, 0);
  previous = Number.POSITIVE_INFINITY;
  for (let p95 = 0.1; p95 < 120; p95 *= 1.1) {
    const h = health(snapshot(995, 5, 0, p95));
    assert.ok(h <= previous, `p95 ${p95}: ${h} > ${previous}`);
    previous = h;
  }
  assert.equal(previous, 1.7);
});

test('down: the minimum of window requests, no answered quote, at least one failure', () => {
  assert.equal(isDown(snapshot(0, 12, 0, Number.NaN), 10), true, '12 timeouts');
  assert.equal(isDown(snapshot(0, 10, 0, Number.NaN), 10), true, 'exactly the minimum');
  assert.equal(isDown(snapshot(0, 4, 6, Number.NaN), 10), true, 'timeouts and errors');
  assert.equal(isDown(snapshot(0, 9, 0, Number.NaN), 10), false, 'too few to tell');
  assert.equal(isDown(snapshot(1, 11, 0, 0.3), 10), false, 'one answer: slow, not down');
  assert.equal(isDown(snapshot(0, 0, 0, Number.NaN, 12), 10), false, 'only non-quote answers');
  assert.equal(isDown(snapshot(0, 1, 0, Number.NaN, 11), 10), true, 'non-quote answers count as requests');
  assert.equal(isDown(emptySnapshot(), 0), false, 'nothing at all');
  assert.equal(health(snapshot(0, 12, 0, Number.NaN)), 0, 'a down key has health 0');
});
