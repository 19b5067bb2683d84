import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from './registry.js';
import { BLOCK, ExpositionBuffer, StringSink } from './sink.js';

/** Enough series to cross many blocks, with label values of one, two, three and four UTF-8 bytes a character. */
function bigRegistry(): Registry {
  const reg = new Registry();
  const c = reg.counter('tkm_requests_total', 'Requests.', ['symbol']);
  const h = reg.histogram('tkm_latency_seconds', 'Latency.', ['symbol'], [0.1, 1, 10]);
  const names = ['AAPL', 'BRK.B', 'café', '株式', 'emoji\u{1F4C8}', 'quote"back\\slash\nline'];
  for (let i = 0; i < 5_000; i++) {
    const name = `${names[i % names.length]}-${i}`;
    c.labels(name).inc(i);
    h.labels(name).observe(i / 1000);
  }
  return reg;
}

test('the buffer holds exactly the UTF-8 of the string render, in both formats', () => {
  const reg = bigRegistry();
  for (const format of ['text', 'openmetrics'] as const) {
    const text = reg.render(format);
    assert.ok(text.length > 10 * BLOCK, 'the render spans many blocks');
    const buffer = new ExpositionBuffer(1024);
    reg.renderTo(format, buffer);
    assert.ok(buffer.bytes().equals(Buffer.from(text, 'utf8')));
  }
});

test('reuse: a reset buffer renders the next exposition from the start', () => {
  const reg = bigRegistry();
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
  buffer.add('x'.repeat(4 * 1024 * 1024));
  assert.ok(buffer.capacity >= 4 * 1024 * 1024);
  buffer.reset();
  // Still large: the render that filled it may come again.
  assert.ok(buffer.capacity >= 4 * 1024 * 1024);
  buffer.add('small');
  buffer.reset();
  assert.ok(buffer.capacity <= 128 * 1024, `${buffer.capacity} bytes kept`);
});

test('the string sink concatenates what it is given', () => {
  const sink = new StringSink();
  sink.add('a');
  sink.add('');
  sink.add('bc');
  assert.equal(sink.text, 'abc');
});
