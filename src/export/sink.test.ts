import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatValue } from './format.js';
import { Registry } from './registry.js';
import { ExpositionBuffer, toByteString } from './sink.js';

/** Integers around every digit-count and 32-bit edge, both signs, and what must go through `formatValue`. */
function edgeValues(): number[] {
  const values = [0, -0, 0.5, -0.25, 1e-7, 123.456, 1732490000.123, 1e21, -1e21, 1e300, 5e-324];
  values.push(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
  for (let p = 1; p <= 1e20; p *= 10) values.push(p - 1, p, p + 1, -p);
  for (const e of [31, 32, 52, 53]) values.push(2 ** e - 1, 2 ** e, 2 ** e + 1, -(2 ** e), -(2 ** e) - 1);
  values.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER);
  // A fixed pseudo-random walk over magnitudes, so a failure reproduces.
  let seed = 12345;
  for (let i = 0; i < 5_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push(Math.floor((seed / 2 ** 31) * 10 ** (i % 17)) * (i % 3 === 0 ? -1 : 1));
  }
  return values;
}

test('a sample value is written exactly as formatValue writes it, digits or not', () => {
  const buffer = new ExpositionBuffer(16);
  let expected = '';
  for (const v of edgeValues()) {
    buffer.sample('m ', v);
    expected += `m ${formatValue(v)}\n`;
  }
  assert.equal(buffer.bytes().toString('latin1'), expected);
});

test('labels in any script come out as their UTF-8, escaped, with the values in order', () => {
  const reg = new Registry();
  const c = reg.counter('tkm_requests_total', 'Requests \u2192 replies.', ['symbol']);
  const h = reg.histogram('tkm_latency_seconds', 'Latency.', ['symbol'], [0.1, 1]);
  const names = ['AAPL', 'café', '株式', 'emoji\u{1F4C8}', 'quote"back\\slash\nline'];
  const escaped = ['AAPL', 'café', '株式', 'emoji\u{1F4C8}', 'quote\\"back\\\\slash\\nline'];
  let counters = '# HELP tkm_requests_total Requests \u2192 replies.\n# TYPE tkm_requests_total counter\n';
  let histograms = '# HELP tkm_latency_seconds Latency.\n# TYPE tkm_latency_seconds histogram\n';
  for (let i = 0; i < 2_000; i++) {
    const k = i % names.length;
    c.labels(`${names[k]}-${i}`).inc(i);
    h.labels(`${names[k]}-${i}`).observe(0.5);
    const l = `symbol="${escaped[k]}-${i}"`;
    counters += `tkm_requests_total{${l}} ${i}\n`;
    histograms +=
      `tkm_latency_seconds_bucket{${l},le="0.1"} 0\ntkm_latency_seconds_bucket{${l},le="1.0"} 1\n` +
      `tkm_latency_seconds_bucket{${l},le="+Inf"} 1\n` +
      `tkm_latency_seconds_count{${l}} 1\ntkm_latency_seconds_sum{${l}} 0.5\n`;
  }
  // A buffer far too small to start with, so that it grows many times mid-line.
  const buffer = new ExpositionBuffer(8);
  reg.renderTo('text', buffer);
  assert.ok(buffer.bytes().equals(Buffer.from(counters + histograms, 'utf8')));
  assert.equal(reg.render('text'), counters + histograms);
});

test('a prefix outside ASCII becomes one code unit per UTF-8 byte; an ASCII one stays as it is', () => {
  assert.equal(toByteString('m{s="é"} '), 'm{s="\u00c3\u00a9"} ');
  const ascii = 'm{s="AAPL"} ';
  assert.equal(toByteString(ascii), ascii);
  const buffer = new ExpositionBuffer();
  buffer.sample(toByteString('m{s="\u{1F4C8}"} '), 1);
  assert.equal(buffer.bytes().toString('utf8'), 'm{s="\u{1F4C8}"} 1\n');
});

test('reuse: a reset buffer renders the next exposition from the start', () => {
  const reg = new Registry();
  const g = reg.gauge('tkm_g', 'G.', ['k']);
  for (let i = 0; i < 10_000; i++) g.labels(`k${i}`).set(i / 7);
  const buffer = new ExpositionBuffer();
  reg.renderTo('text', buffer);
  const first = Buffer.from(buffer.bytes());
  buffer.reset();
  assert.equal(buffer.bytes().length, 0);
  reg.renderTo('text', buffer);
  assert.ok(buffer.bytes().equals(first));
});

test('a buffer far larger than the last render gives the excess back at reset', () => {
  const buffer = new ExpositionBuffer(1024);
  buffer.text('x'.repeat(4 * 1024 * 1024));
  assert.ok(buffer.capacity >= 4 * 1024 * 1024);
  buffer.reset();
  // Still large: the render that filled it may come again.
  assert.ok(buffer.capacity >= 4 * 1024 * 1024);
  buffer.text('small');
  buffer.reset();
  assert.ok(buffer.capacity <= 128 * 1024, `${buffer.capacity} bytes kept`);
});
