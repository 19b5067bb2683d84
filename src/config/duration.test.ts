import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from './duration.js';

test('parses every unit the config accepts', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('2d'), 172_800_000);
});

test('rejects what is not a duration', () => {
  for (const bad of ['', '10', 's', '-1s', '10 minutes', '1e3ms', '10S']) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});

test('formats in the largest exact unit', () => {
  assert.equal(formatDuration(10_000), '10s');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(1500), '1500ms');
});
