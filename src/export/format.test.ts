import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  escapeHelpOpenMetrics,
  escapeHelpText,
  escapeLabelValue,
  formatLe,
  formatValue,
  isValidLabelName,
  isValidMetricName,
} from './format.js';

test('sample values: integers plain, floats as JS writes them, specials spelled out', () => {
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(-0), '0');
  assert.equal(formatValue(42), '42');
  assert.equal(formatValue(-17), '-17');
  assert.equal(formatValue(1732490000), '1732490000');
  assert.equal(formatValue(2 ** 53), '9007199254740992');
  assert.equal(formatValue(1e20), '100000000000000000000');
  assert.equal(formatValue(1e21), '1000000000000000000000');
  assert.equal(formatValue(-1e21), '-1000000000000000000000');
  assert.equal(formatValue(0.5), '0.5');
  assert.equal(formatValue(1732490000.123), '1732490000.123');
  assert.equal(formatValue(1e-7), '1e-7');
  assert.equal(formatValue(Number.NaN), 'NaN');
  assert.equal(formatValue(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatValue(Number.NEGATIVE_INFINITY), '-Inf');
});

test('le values follow the OpenMetrics canonical examples', () => {
  const cases: Array<[number, string]> = [
    [0, '0.0'],
    [0.001, '0.001'],
    [0.002, '0.002'],
    [0.01, '0.01'],
    [0.1, '0.1'],
    [0.9, '0.9'],
    [0.95, '0.95'],
    [0.99, '0.99'],
    [0.999, '0.999'],
    [1, '1.0'],
    [1.7, '1.7'],
    [10, '10.0'],
    [1e-10, '1e-10'],
    [1e-9, '1e-09'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [100000, '100000.0'],
    [1e6, '1e+06'],
    [1e10, '1e+10'],
    [1e23, '1e+23'],
    [1.1e23, '1.1e+23'],
    [1234567, '1.234567e+06'],
    [0.005, '0.005'],
    [2.5, '2.5'],
    [-1, '-1.0'],
    [-0.5, '-0.5'],
  ];
  for (const [v, want] of cases) assert.equal(formatLe(v), want, String(v));
});

test('label values escape backslash, double quote and line feed, and nothing else', () => {
  assert.equal(escapeLabelValue('plain value'), 'plain value');
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue('tab\there, cr\r, ünïcødé'), 'tab\there, cr\r, ünïcødé');
});

test('help escaping differs: text leaves double quotes alone, OpenMetrics escapes them', () => {
  assert.equal(escapeHelpText('say "hi"\\\nbye'), 'say "hi"\\\\\\nbye');
  assert.equal(escapeHelpOpenMetrics('say "hi"\\\nbye'), 'say \\"hi\\"\\\\\\nbye');
});

test('metric and label name validation', () => {
  for (const ok of ['tkmprom_up', 'a', 'job:rate5m', 'A_b9']) assert.equal(isValidMetricName(ok), true, ok);
  for (const bad of ['', '9lives', 'with-dash', 'with space', '_hidden', '__reserved', 'é']) {
    assert.equal(isValidMetricName(bad), false, bad);
  }
  for (const ok of ['device', 'kind2', '_x', 'A']) assert.equal(isValidLabelName(ok), true, ok);
  for (const bad of ['', '2x', 'a:b', 'a-b', '__name__']) assert.equal(isValidLabelName(bad), false, bad);
});
