import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { registerProcessMetrics } from './process.js';
import { Registry } from './registry.js';

const PROMTOOL = '/usr/bin/promtool';

/** Every metric type, labelled and not, with escapes, special values, an empty family and negative bounds. */
function everyType(): { reg: Registry; stop: () => void } {
  const reg = new Registry();
  const messages = reg.counter('tkmprom_messages_total', 'Messages "seen" by kind,\nper device \\ topic.', [
    'kind',
    'device',
  ]);
  messages.labels('quote', 'tkm-1').inc(41);
  messages.labels('status', 'weird "dev"\\\nname').inc(0.5);
  reg.counter('tkmprom_restarts_total', 'Restarts.').inc();
  reg.gauge('tkmprom_up', 'Whether the source is connected.').set(1);
  const temp = reg.gauge('tkmprom_device_temperature_celsius', 'Temperature.', ['device']);
  temp.labels('a').set(21.5);
  temp.labels('b').set(Number.NaN);
  temp.labels('c').set(Number.POSITIVE_INFINITY);
  temp.labels('d').set(Number.NEGATIVE_INFINITY);
  temp.labels('e').set(1e-7);
  temp.labels('f').set(1e21);
  reg.gauge('tkmprom_empty_family', 'A family whose series have not appeared yet.', ['device']);
  const latency = reg.histogram(
    'tkmprom_reply_latency_seconds',
    'Reply latency.',
    ['kind'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  for (const v of [0.003, 0.02, 0.3, 7, 30]) latency.labels('quote').observe(v);
  latency.labels('status');
  const offset = reg.histogram('tkmprom_clock_offset_seconds', 'Clock offset.', [], [-1, -0.1, 0, 0.1, 1]);
  for (const v of [-2, -0.05, 0.05, 3]) offset.observe(v);
  const stop = registerProcessMetrics(reg);
  return { reg, stop };
}

test('promtool check metrics accepts the text exposition of every type', {
  skip: existsSync(PROMTOOL) ? false : `promtool not installed at ${PROMTOOL}; skipping the promtool check`,
}, () => {
  const { reg, stop } = everyType();
  try {
    const text = reg.render('text');
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.error, undefined);
    assert.equal(r.stdout + r.stderr, '', text);
    assert.equal(r.status, 0);
  } finally {
    stop();
  }
});

test('promtool is a real check here: it rejects a broken exposition', {
  skip: existsSync(PROMTOOL) ? false : `promtool not installed at ${PROMTOOL}; skipping the promtool check`,
}, () => {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], {
    input: '# HELP x_total X \\"q\\".\n# TYPE x_total counter\nx_total 1\n',
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.notEqual(r.status, 0);
});

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
const NUMBER = /^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/;

const leNumber = (le: string): number => (le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le));

/** Parses a label set strictly: every character must belong to a well-formed, escaped pair. */
function labelPairs(inner: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < inner.length) {
    const m = LABEL.exec(inner);
    assert.ok(m, `malformed label set {${inner}}`);
    pairs.push([m[1]!, m[2]!]);
  }
  return pairs;
}

test('OpenMetrics exposition of every type is structurally valid', () => {
  const { reg, stop } = everyType();
  let out: string;
  try {
    out = reg.render('openmetrics');
  } finally {
    stop();
  }
  assert.ok(out.endsWith('\n# EOF\n'));
  assert.ok(!out.includes('\r'));
  const lines = out.slice(0, -1).split('\n');
  assert.equal(lines.pop(), '# EOF');
  const families = new Map<string, string>();
  let family = '';
  let type = '';
  let lastDescriptor = '';
  let buckets: Array<{ key: string; le: string; value: number }> = [];
  const closeHistogramPoint = (): void => {
    if (buckets.length === 0) return;
    assert.equal(buckets.at(-1)!.le, '+Inf', `${family}: last bucket must be +Inf`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(leNumber(buckets[i]!.le) > leNumber(buckets[i - 1]!.le), `${family}: le must increase`);
      assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${family}: buckets must be cumulative`);
    }
    buckets = [];
  };
  let lastCount: { key: string; value: number } | undefined;
  for (const line of lines) {
    assert.notEqual(line, '', 'no blank lines');
    if (line.startsWith('#')) {
      const m = /^# (TYPE|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      assert.ok(m, `only TYPE and HELP metadata: ${line}`);
      if (m[1] === 'TYPE') {
        closeHistogramPoint();
        assert.ok(!families.has(m[2]!), `family ${m[2]} must not be interleaved or repeated`);
        assert.match(m[3]!, /^(counter|gauge|histogram)$/);
        family = m[2]!;
        type = m[3]!;
        families.set(family, type);
      } else {
        assert.equal(lastDescriptor, `TYPE ${m[2]}`, 'HELP follows its TYPE');
        assert.equal(m[2], family);
        assert.ok(!/(^|[^\\])"/.test(m[3]!.replace(/\\\\/g, '')), `unescaped quote in HELP: ${line}`);
      }
      lastDescriptor = `${m[1]} ${m[2]}`;
      continue;
    }
    lastDescriptor = '';
    const m = SAMPLE.exec(line);
    assert.ok(m, `sample line: ${line}`);
    const [, name, , inner = '', value] = m;
    assert.match(value!, NUMBER, line);
    const pairs = labelPairs(inner);
    assert.equal(new Set(pairs.map(([k]) => k)).size, pairs.length, `duplicate label in ${line}`);
    if (type === 'counter') {
      assert.equal(name, `${family}_total`, line);
      assert.ok(Number(value) >= 0, `counter total must be a non-negative number: ${line}`);
    } else if (type === 'gauge') {
      assert.equal(name, family, line);
    } else {
      const le = pairs.find(([k]) => k === 'le');
      const key = JSON.stringify(pairs.filter(([k]) => k !== 'le'));
      if (name === `${family}_bucket`) {
        assert.ok(le, line);
        assert.match(le[1], /^(\+Inf|-?\d+\.\d+|-?\d(\.\d+)?e[+-]\d\d+)$/, `canonical le: ${line}`);
        if (buckets.length > 0 && buckets[0]!.key !== key) closeHistogramPoint();
        buckets.push({ key, le: le[1], value: Number(value) });
        assert.ok(Number.isInteger(Number(value)), line);
      } else if (name === `${family}_count`) {
        assert.equal(le, undefined);
        assert.equal(buckets.at(-1)?.key, key, `${line} follows its buckets`);
        assert.equal(Number(value), buckets.at(-1)!.value, '_count equals the +Inf bucket');
        lastCount = { key, value: Number(value) };
      } else if (name === `${family}_sum`) {
        assert.equal(lastCount?.key, key, `${line} follows its _count`);
        assert.ok(Number(value) >= 0, `OpenMetrics sum must not be negative: ${line}`);
        closeHistogramPoint();
      } else {
        assert.fail(`unexpected sample ${name} in histogram ${family}`);
      }
    }
  }
  closeHistogramPoint();
  assert.equal(families.get('tkmprom_messages'), 'counter');
  assert.equal(families.get('tkmprom_clock_offset_seconds'), 'histogram');
  assert.equal(families.get('process_cpu_seconds'), 'counter');
  assert.equal(families.get('tkmprom_empty_family'), 'gauge');
  // The histogram with negative bounds carries neither _sum nor _count.
  assert.ok(!out.includes('tkmprom_clock_offset_seconds_sum'));
  assert.ok(!out.includes('tkmprom_clock_offset_seconds_count'));
});
