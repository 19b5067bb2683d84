/**
 * Memory per key and cost per record of the stats module, measured rather than guessed:
 *
 *   node --expose-gc --import tsx src/stats/measure.bench.ts
 *
 * Prints heap bytes per key (V8 heap plus typed-array backing stores, after a full GC) next to what
 * `approxBytes()` estimates, for 20,000 keys under a Zipf-shaped load, then when they are idle, and
 * nanoseconds per record and per snapshot.
 */
import { mulberry32 } from '../../test/helpers/random.js';
import { TrendTracker } from './trend.js';
import { OutcomeWindow, emptySnapshot } from './window.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(1);
}

const KEYS = 20_000;
const T0 = 1_700_000_000_000;

/** Backing stores of typed arrays are freed by a background sweeper, so give it time to finish. */
async function heap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface Key {
  window: OutcomeWindow;
  trend: TrendTracker;
}

function makeKeys(): Key[] {
  const keys: Key[] = [];
  for (let i = 0; i < KEYS; i++) {
    keys.push({
      window: new OutcomeWindow({ windowMs: 300_000, slots: 10 }),
      trend: new TrendTracker({ recentMs: 300_000, baselineMs: 3_600_000 }),
    });
  }
  return keys;
}

/** Cumulative Zipf(1) weights, so that key k gets a share proportional to 1 / (k + 1). */
function zipf(n: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1);
    cdf[k] = sum;
  }
  for (let k = 0; k < n; k++) cdf[k]! /= sum;
  return cdf;
}

function pick(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Feeds `perSecond` quote outcomes for `seconds`, 97 % responses, 2 % timeouts, 1 % errors. */
function load(keys: Key[], perSecond: number, seconds: number, start: number, seed: number): number {
  const random = mulberry32(seed);
  const cdf = zipf(keys.length);
  const total = perSecond * seconds;
  const step = 1000 / perSecond;
  for (let n = 0; n < total; n++) {
    const now = start + Math.floor(n * step);
    const key = keys[pick(cdf, random())]!;
    const u = random();
    if (u < 0.97) {
      const latency = 0.2 + random() * random() * 3;
      key.window.response(now, latency);
      key.trend.response(now, latency);
    } else if (u < 0.99) {
      key.window.timeout(now);
      key.trend.failure(now);
    } else {
      key.window.error(now);
      key.trend.failure(now);
    }
  }
  return start + seconds * 1000;
}

async function report(label: string, keys: Key[], before: number, now: number): Promise<void> {
  // Touch every key first: arrays of a key that went idle are dropped lazily, on its next call.
  let active = 0;
  const out = emptySnapshot();
  const begin = process.hrtime.bigint();
  for (const k of keys) k.window.snapshot(now, out);
  const snapshotMs = Number(process.hrtime.bigint() - begin) / 1e6;
  let windowBytes = 0;
  let trendBytes = 0;
  for (const k of keys) {
    if (!k.window.isEmpty(now)) active++;
    k.trend.isEmpty(now);
    windowBytes += k.window.approxBytes();
    trendBytes += k.trend.approxBytes();
  }
  const measured = ((await heap()) - before) / keys.length;
  console.log(
    `${label.padEnd(44)} measured ${measured.toFixed(0).padStart(5)} B/key, estimated window ` +
      `${(windowBytes / keys.length).toFixed(0).padStart(5)} + trend ${(trendBytes / keys.length).toFixed(0).padStart(3)} B/key, ` +
      `total ${((measured * keys.length) / 1e6).toFixed(1)} MB, ${active} keys with a non-empty window, ` +
      `snapshot of all ${snapshotMs.toFixed(1)} ms`,
  );
}

async function calibrate(): Promise<void> {
  let before = await heap();
  const objects = Array.from({ length: KEYS }, () => new OutcomeWindow({ windowMs: 300_000, slots: 10 }));
  console.log(`idle OutcomeWindow object: ${(((await heap()) - before) / KEYS).toFixed(0)} B`);
  before = await heap();
  const trends = Array.from(
    { length: KEYS },
    () => new TrendTracker({ recentMs: 300_000, baselineMs: 3_600_000 }),
  );
  console.log(`idle TrendTracker object: ${(((await heap()) - before) / KEYS).toFixed(0)} B`);
  before = await heap();
  const arrays = Array.from({ length: KEYS }, () => new Float64Array(60));
  console.log(`Float64Array(60) (480 B of data): ${(((await heap()) - before) / KEYS).toFixed(0)} B`);
  before = await heap();
  const small = Array.from({ length: KEYS }, () => new Uint16Array(16));
  console.log(`Uint16Array(16) (32 B of data): ${(((await heap()) - before) / KEYS).toFixed(0)} B`);
  if (objects.length + trends.length + arrays.length + small.length === 0) console.log();
}

/** One scenario per call, so that its keys are garbage once it returns. */
async function scenario(label: string, rate: number): Promise<void> {
  const before = await heap();
  const keys = makeKeys();
  await report('20,000 keys, never used', keys, before, T0);
  // 70 minutes so that the trend baselines are full too.
  const end = load(keys, rate, 70 * 60, T0, 1);
  await report(`${label}, 70 min`, keys, before, end);
  await report('  then 2 h idle', keys, before, end + 2 * 3_600_000);
}

/** Best of `runs`, in ns per call: other processes on the machine only ever add time. */
function best(runs: number, calls: number, body: () => void): number {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const begin = process.hrtime.bigint();
    body();
    min = Math.min(min, Number(process.hrtime.bigint() - begin) / calls);
  }
  return min;
}

function speed(): void {
  const random = mulberry32(3);
  const latencies = new Float64Array(1 << 16);
  for (let i = 0; i < latencies.length; i++) latencies[i] = 0.2 + random() * random() * 3;
  const cdf = zipf(KEYS);
  const which = new Uint32Array(1 << 16);
  for (let i = 0; i < which.length; i++) which[i] = pick(cdf, random());
  const N = 1_000_000;
  let clock = T0;
  // Timestamps advance 20 us per record: 50,000 records a second, so slots rotate as in service.
  const perRecord = (label: string, record: (n: number) => void) => {
    const ns = best(5, N, () => {
      for (let n = 0; n < N; n++) record(n);
      clock += N / 50;
    });
    console.log(`${label.padEnd(44)} ${ns.toFixed(0).padStart(5)} ns/record`);
  };
  for (const rate of [1000, 50_000]) {
    const keys = makeKeys();
    const now = load(keys, rate, 70 * 60, T0, 1);
    const out = emptySnapshot();
    const snapshotNs = best(10, KEYS, () => {
      for (const k of keys) k.window.snapshot(now, out);
    });
    const trendNs = best(10, KEYS, () => {
      for (const k of keys) k.trend.trend(now);
    });
    console.log(
      `after ${rate} quotes/s: snapshot ${((snapshotNs * KEYS) / 1e6).toFixed(1)} ms, ` +
        `trend ${((trendNs * KEYS) / 1e6).toFixed(1)} ms for all 20,000 keys`,
    );
  }
  const keys = makeKeys();
  const hot = keys[0]!;
  perRecord('window.response, one key', (n) => hot.window.response(clock + n / 50, latencies[n & 0xffff]!));
  perRecord('window.timeout, one key', (n) => hot.window.timeout(clock + n / 50));
  perRecord('trend.response, one key', (n) => hot.trend.response(clock + n / 50, latencies[n & 0xffff]!));
  perRecord('window.response, 20,000 Zipf keys', (n) =>
    keys[which[n & 0xffff]!]!.window.response(clock + n / 50, latencies[n & 0xffff]!),
  );
  perRecord('trend.response, 20,000 Zipf keys', (n) =>
    keys[which[n & 0xffff]!]!.trend.response(clock + n / 50, latencies[n & 0xffff]!),
  );
  perRecord('loop overhead alone, 20,000 Zipf keys', (n) => {
    if (keys[which[n & 0xffff]!] === undefined || latencies[n & 0xffff]! < 0) throw new Error();
  });
}

await calibrate();
await scenario('1,000 quotes/s (60,000 devices, 1/min)', 1000);
await scenario('50,000 quotes/s (the design maximum)', 50_000);
speed();
