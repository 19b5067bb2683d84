import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketIndex, bucketValue } from './sketch.js';
import { mulberry32 } from '../../test/helpers/random.js';
import { DENSE_ABOVE, OutcomeWindow, SLOT_RAW_LIMIT, type WindowSnapshot, emptySnapshot } from './window.js';

const CFG = { windowMs: 300_000, slots: 10 };
const SLOT = 30_000;
const T0 = 1_700_000_010_000; // a slot boundary

function snap(w: OutcomeWindow, now: number): WindowSnapshot {
  return w.snapshot(now, emptySnapshot());
}

test('an empty window reports zeros and NaN rates', () => {
  const s = snap(new OutcomeWindow(CFG), T0);
  assert.deepEqual(s, emptySnapshot());
  assert.equal(s.requests, 0);
  assert.ok(Number.isNaN(s.responseRate));
});

test('counts every outcome; late is not a request', () => {
  const w = new OutcomeWindow(CFG);
  w.response(T0, 0.2);
  w.response(T0 + 1000, 0.4);
  w.response(T0 + 2000, 0.9);
  w.error(T0 + 3000);
  w.timeout(T0 + 4000);
  w.timeout(T0 + 5000);
  w.late(T0 + 6000);
  w.nonQuote(T0 + 7000);
  const s = snap(w, T0 + 8000);
  assert.equal(s.requests, 7);
  assert.equal(s.responses, 3);
  assert.equal(s.errors, 1);
  assert.equal(s.timeouts, 2);
  assert.equal(s.late, 1);
  assert.equal(s.responseRate, 3 / 7);
  assert.equal(s.avgLatencySeconds, (0.2 + 0.4 + 0.9) / 3);
  // p95 rank floor(0.95 * 2) = 1: the middle value.
  assert.equal(s.p95LatencySeconds, bucketValue(bucketIndex(0.4)));
  assert.equal(s.p99LatencySeconds, bucketValue(bucketIndex(0.4)));
});

test('a slot leaves the window exactly windowMs after its start', () => {
  const w = new OutcomeWindow(CFG);
  w.timeout(T0); // slot 0
  w.response(T0 + SLOT, 1); // slot 1
  w.error(T0 + 9 * SLOT + SLOT - 1); // slot 9, still with slot 0
  let s = snap(w, T0 + 10 * SLOT - 1);
  assert.deepEqual([s.requests, s.timeouts, s.responses, s.errors], [3, 1, 1, 1]);
  s = snap(w, T0 + 10 * SLOT); // slot 0 gone
  assert.deepEqual([s.requests, s.timeouts, s.responses, s.errors], [2, 0, 1, 1]);
  s = snap(w, T0 + 11 * SLOT); // slot 1 gone, with its latency
  assert.deepEqual([s.requests, s.responses, s.errors], [1, 0, 1]);
  assert.ok(Number.isNaN(s.p95LatencySeconds));
  assert.ok(Number.isNaN(s.avgLatencySeconds));
  assert.equal(w.isEmpty(T0 + 18 * SLOT), false);
  assert.equal(w.isEmpty(T0 + 19 * SLOT), true);
});

test('an idle key drops its arrays', () => {
  const w = new OutcomeWindow(CFG);
  const idle = w.approxBytes();
  for (let k = 0; k < 2000; k++) w.response(T0 + k * 100, 0.3 + (k % 7) / 10);
  assert.ok(w.approxBytes() > idle + 2000 * 2);
  assert.equal(w.isEmpty(T0 + 10 * SLOT + 200_000), true);
  assert.equal(w.approxBytes(), idle);
  assert.equal(idle, 136);
  // and comes back to life
  w.response(T0 + 1_000_000, 0.5);
  assert.equal(snap(w, T0 + 1_000_000).responses, 1);
});

test('time going backwards is charged to the latest slot', () => {
  const w = new OutcomeWindow(CFG);
  w.response(T0 + 5 * SLOT, 0.5);
  w.timeout(T0); // earlier than the latest slot
  assert.equal(snap(w, T0 + 5 * SLOT).requests, 2);
  assert.equal(snap(w, T0 + 14 * SLOT).requests, 2);
  assert.equal(snap(w, T0 + 15 * SLOT).requests, 0);
});

test('bad latencies count as 0 and do not poison the average', () => {
  const w = new OutcomeWindow(CFG);
  w.response(T0, Number.NaN);
  w.response(T0, -1);
  w.response(T0, Number.POSITIVE_INFINITY);
  w.response(T0, 3);
  const s = snap(w, T0);
  assert.equal(s.avgLatencySeconds, 0.75);
  assert.equal(s.p99LatencySeconds, bucketValue(0));
});

interface Event {
  epoch: number;
  kind: number; // 0 response, 1 error, 2 timeout, 3 late, 4 non-quote
  latency: number;
}

/** Straightforward reference: keep every event, filter by slot epoch, sort for quantiles. */
function reference(events: Event[], nowEpoch: number, slots: number): WindowSnapshot {
  const inWindow = events.filter((e) => e.epoch > nowEpoch - slots && e.epoch <= nowEpoch);
  const of = (kind: number) => inWindow.filter((e) => e.kind === kind);
  const responses = of(0);
  const requests = responses.length + of(1).length + of(2).length + of(4).length;
  const indices = responses.map((e) => bucketIndex(e.latency)).sort((a, b) => a - b);
  const q = (p: number) =>
    indices.length ? bucketValue(indices[Math.floor(p * (indices.length - 1))]!) : Number.NaN;
  return {
    requests,
    responses: responses.length,
    errors: of(1).length,
    timeouts: of(2).length,
    late: of(3).length,
    responseRate: requests ? responses.length / requests : Number.NaN,
    avgLatencySeconds: responses.length
      ? responses.reduce((a, e) => a + e.latency, 0) / responses.length
      : Number.NaN,
    p95LatencySeconds: q(0.95),
    p99LatencySeconds: q(0.99),
  };
}

function checkAgainstReference(seed: number, rate: () => number, steps: number): number {
  const random = mulberry32(seed);
  const slots = 10;
  const w = new OutcomeWindow({ windowMs: slots * SLOT, slots });
  const events: Event[] = [];
  const out = emptySnapshot();
  let now = T0;
  let checks = 0;
  let latest = 0; // the window charges an out-of-order outcome to its latest slot
  for (let step = 0; step < steps; step++) {
    now += Math.floor(random() * 2 * SLOT);
    const n = rate();
    for (let k = 0; k < n; k++) {
      const t = now + Math.floor(random() * 1000);
      const kind = random() < 0.8 ? 0 : Math.floor(random() * 5);
      const latency = 0.05 + random() * random() * 8;
      latest = Math.max(latest, Math.floor(t / SLOT));
      events.push({ epoch: latest, kind, latency });
      if (kind === 0) w.response(t, latency);
      else if (kind === 1) w.error(t);
      else if (kind === 2) w.timeout(t);
      else if (kind === 3) w.late(t);
      else w.nonQuote(t);
    }
    const at = now + 1000;
    const expected = reference(events, Math.floor(at / SLOT), slots);
    w.snapshot(at, out);
    const { avgLatencySeconds: avg, ...exact } = out;
    const { avgLatencySeconds: expectedAvg, ...expectedExact } = expected;
    assert.deepEqual(exact, expectedExact, `seed ${seed} step ${step}`);
    if (Number.isNaN(expectedAvg)) assert.ok(Number.isNaN(avg));
    else assert.ok(Math.abs(avg - expectedAvg) <= 1e-9 * expectedAvg, `avg ${avg} vs ${expectedAvg}`);
    checks++;
  }
  return checks;
}

test('matches a reference model at low rates (raw samples only)', () => {
  const random = mulberry32(7);
  assert.equal(
    checkAgainstReference(1, () => Math.floor(random() * 30), 300),
    300,
  );
});

test('matches a reference model across the dense and per-slot histogram thresholds', () => {
  const random = mulberry32(9);
  // Bursts well past DENSE_ABOVE and past SLOT_RAW_LIMIT in one slot, then quiet spells.
  const rate = () => (random() < 0.3 ? Math.floor(random() * 3 * SLOT_RAW_LIMIT) : Math.floor(random() * 50));
  assert.ok(3 * SLOT_RAW_LIMIT > DENSE_ABOVE);
  assert.equal(checkAgainstReference(2, rate, 200), 200);
});

test('a hot key stays bounded in memory', () => {
  const w = new OutcomeWindow(CFG);
  // 1,000 responses a second for 10 minutes.
  for (let ms = 0; ms < 600_000; ms++) w.response(T0 + ms, 0.2 + (ms % 1000) / 1000);
  const s = snap(w, T0 + 599_999);
  assert.equal(s.responses, 300_000);
  assert.equal(s.p95LatencySeconds, bucketValue(bucketIndex(0.2 + 0.949)));
  // ring (16,384 x 2) + window total + 10 slot histograms (621 x 4) + counters (480), with headers
  assert.equal(w.approxBytes(), 63_300);
});

test('p95 and p99 match the sorted samples for every sample count through all three paths', () => {
  const random = mulberry32(11);
  const out = emptySnapshot();
  for (let n = 1; n <= DENSE_ABOVE + 40; n++) {
    const w = new OutcomeWindow(CFG);
    const indices: number[] = [];
    for (let k = 0; k < n; k++) {
      const latency = 0.1 * Math.exp(4 * random());
      indices.push(bucketIndex(latency));
      w.response(T0 + k, latency);
    }
    indices.sort((a, b) => a - b);
    w.snapshot(T0 + n, out);
    const at = (q: number) => bucketValue(indices[Math.floor(q * (n - 1))]!);
    if (out.p95LatencySeconds !== at(0.95) || out.p99LatencySeconds !== at(0.99)) {
      assert.fail(`n ${n}: ${out.p95LatencySeconds}/${out.p99LatencySeconds} vs ${at(0.95)}/${at(0.99)}`);
    }
  }
});
