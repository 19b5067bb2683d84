import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { registerProcessMetrics } from './process.js';
import { Registry } from './registry.js';
import { ExpositionBuffer } from './sink.js';

/** client_model's metrics.proto, read by protobufjs: the independent reader of what we write. */
const root = protobuf.loadSync('test/fixtures/metrics.proto');
const MetricFamily = root.lookupType('io.prometheus.client.MetricFamily');

interface DecodedMetric {
  label: { name: string; value: string }[];
  counter?: { value: number };
  gauge?: { value: number };
  histogram?: {
    sampleCount: number;
    sampleSum: number;
    bucket: { cumulativeCount: number; upperBound: number }[];
    schema?: number;
    zeroThreshold?: number;
    zeroCount?: number;
    positiveSpan: { offset: number; length: number }[];
    positiveDelta: number[];
  };
}

interface DecodedFamily {
  name: string;
  help?: string;
  type: string;
  metric: DecodedMetric[];
}

/** Every length-delimited MetricFamily of `bytes`, decoded by protobufjs. */
export function decodeFamilies(bytes: Uint8Array): DecodedFamily[] {
  const reader = protobuf.Reader.create(bytes);
  const out: DecodedFamily[] = [];
  while (reader.pos < reader.len) {
    const msg = MetricFamily.decodeDelimited(reader);
    out.push(
      MetricFamily.toObject(msg, {
        longs: Number,
        enums: String,
        arrays: true,
        defaults: false,
      }) as DecodedFamily,
    );
  }
  return out;
}

function protobufBytes(reg: Registry): Buffer {
  const out = new ExpositionBuffer(64);
  reg.renderTo('protobuf', out);
  return Buffer.from(out.bytes());
}

/** The text exposition, read back: HELP and TYPE per family, and every sample by its line. */
function parseText(text: string): {
  families: Map<string, { help?: string; type: string }>;
  samples: Map<string, number>;
} {
  const families = new Map<string, { help?: string; type: string }>();
  const samples = new Map<string, number>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      helps.set(
        m[1]!,
        m[2]!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\')),
      );
      continue;
    }
    m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      families.set(m[1]!, { help: helps.get(m[1]!), type: m[2]! });
      continue;
    }
    m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
    assert.ok(m, `sample line ${line}`);
    const labels: string[] = [];
    if (m[2]) {
      for (const l of m[2].slice(1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels.push(
          `${l[1]}=${JSON.stringify(l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)))}`,
        );
      }
    }
    samples.set(key(m[1]!, labels), parseValue(m[3]!));
  }
  return { families, samples };
}

function parseValue(v: string): number {
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

function key(name: string, labels: string[]): string {
  return `${name}{${[...labels].sort().join(',')}}`;
}

function formatLeOf(v: number): string {
  // The text exposition's `le` values, as format.ts writes them.
  const s = String(v);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** The samples a decoded family stands for, as the text exposition names them. */
function samplesOf(f: DecodedFamily): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of f.metric) {
    const labels = m.label.map((l) => `${l.name}=${JSON.stringify(l.value)}`);
    if (f.type === 'COUNTER') out.set(key(f.name, labels), m.counter!.value);
    else if (f.type === 'GAUGE') out.set(key(f.name, labels), m.gauge!.value);
    else {
      const h = m.histogram!;
      for (const b of h.bucket) {
        out.set(
          key(`${f.name}_bucket`, [...labels, `le=${JSON.stringify(formatLeOf(b.upperBound))}`]),
          b.cumulativeCount,
        );
      }
      if (h.bucket.length > 0) out.set(key(`${f.name}_bucket`, [...labels, 'le="+Inf"']), h.sampleCount);
      out.set(key(`${f.name}_count`, labels), h.sampleCount);
      out.set(key(`${f.name}_sum`, labels), h.sampleSum);
    }
  }
  return out;
}

/** A decoded message without its empty repeated fields. */
function compact(h: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(h).filter(([, v]) => !(Array.isArray(v) && v.length === 0)));
}

/** Every type, labelled and not, with escapes, multi-byte values, special values and an empty family. */
function everyType(): Registry {
  const reg = new Registry();
  const messages = reg.counter('tkmprom_messages_total', 'Messages "seen" by kind,\nper device \\ topic.', [
    'kind',
    'device',
  ]);
  messages.labels('quote', 'tkm-1').inc(41);
  messages.labels('status', 'weird "dev"\\\nname').inc(0.5);
  messages.labels('株式', '').inc(3);
  messages.labels('long', 'x'.repeat(300)).inc(1e15);
  reg.counter('tkmprom_restarts_total', 'Restarts.').inc();
  reg.gauge('tkmprom_up', '').set(1);
  const temp = reg.gauge('tkmprom_device_temperature_celsius', 'Temperature.', ['device']);
  temp.labels('a').set(21.5);
  temp.labels('c').set(Number.POSITIVE_INFINITY);
  temp.labels('d').set(Number.NEGATIVE_INFINITY);
  temp.labels('e').set(-1e-7);
  temp.labels('f').set(2 ** 60);
  reg.gauge('tkmprom_empty_family', 'A family whose series have not appeared yet.', ['device']);
  const latency = reg.histogram(
    'tkmprom_reply_latency_seconds',
    'Reply latency.',
    ['kind'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  for (const v of [0.003, 0.02, 0.3, 7, 30]) latency.labels('quote').observe(v);
  latency.labels('status');
  const boot = reg.histogram('tkmprom_boot_seconds', 'Boot time.', [], [1, 2, 5]);
  for (let i = 0; i < 300; i++) boot.observe(i / 50);
  return reg;
}

test('the protobuf exposition decodes with the official metrics.proto to what the text exposition says', () => {
  const reg = everyType();
  const stop = registerProcessMetrics(reg);
  try {
    // Collectors run at each render: set process gauges once, then render both from the same state.
    reg.onCollect(() => {});
    const families = decodeFamilies(protobufBytes(reg));
    const text = parseText(reg.render('text'));
    // Process metrics move between two renders; compare the rest exactly.
    const moving = /^(process_|nodejs_)/;
    const fixed = families.filter((f) => !moving.test(f.name));
    assert.deepEqual(
      fixed.map((f) => f.name),
      [...text.families.keys()].filter((n) => !moving.test(n) && n !== 'tkmprom_empty_family'),
      'the same families in the same order, the empty one left out',
    );
    for (const f of fixed) {
      const t = text.families.get(f.name)!;
      assert.equal(f.type, t.type.toUpperCase(), f.name);
      assert.equal(f.help, t.help, f.name);
    }
    const fromPb = new Map<string, number>();
    for (const f of fixed) for (const [k, v] of samplesOf(f)) fromPb.set(k, v);
    const fromText = new Map([...text.samples].filter(([k]) => !moving.test(k)));
    assert.deepEqual(fromPb, fromText);
    assert.equal(fromPb.size, 4 + 1 + 1 + 5 + (12 + 2) * 2 + (4 + 2));
    // Every process family is there too, with the type the text gives it.
    for (const f of families.filter((x) => moving.test(x.name))) {
      assert.equal(f.type, text.families.get(f.name)!.type.toUpperCase(), f.name);
      assert.equal(f.metric.length, 1, f.name);
    }
  } finally {
    stop();
  }
});

test('a protobuf render into a small reused buffer is byte for byte a fresh one', () => {
  const reg = everyType();
  const out = new ExpositionBuffer(16);
  reg.renderTo('text', out);
  out.reset();
  reg.renderTo('protobuf', out);
  const first = Buffer.from(out.bytes());
  out.reset();
  reg.renderTo('protobuf', out);
  assert.deepEqual(Buffer.from(out.bytes()), first);
  assert.deepEqual(reg.renderBytes('protobuf'), first);
});

test('a registry without series renders no protobuf bytes', () => {
  const reg = new Registry();
  reg.counter('a_total', 'A.', ['x']);
  assert.equal(reg.renderBytes('protobuf').length, 0);
});

test('native histograms: schema, zero bucket, spans and delta-encoded counts, beside or instead of the classic buckets', () => {
  const reg = new Registry();
  const opts = { native: { schema: 0, zeroThreshold: 0.001 } } as const;
  const native = reg.histogram('lat_native_seconds', 'Latency.', ['s'], [1, 10], opts);
  const both = reg.histogram('lat_both_seconds', 'Latency.', ['s'], [1, 10], {
    ...opts,
    protobufBuckets: 'both',
  });
  const classic = reg.histogram('lat_classic_seconds', 'Latency.', ['s'], [1, 10], {
    ...opts,
    protobufBuckets: 'classic',
  });
  // Schema 0: bucket i is (2^(i-1), 2^i]. 0.0005 and 0 go to the zero bucket; 0.75 and 1 to
  // bucket 0; 1.5 and 2 to bucket 1; 3 to bucket 2; 40 to bucket 6 (gap of 3: a second span).
  const values = [0, 0.0005, 0.75, 1, 1.5, 2, 3, 40];
  for (const h of [native, both, classic]) for (const v of values) h.labels('AAPL').observe(v);
  native.labels('EMPTY');
  const families = decodeFamilies(reg.renderBytes('protobuf'));
  assert.deepEqual(
    families.map((f) => f.name),
    ['lat_native_seconds', 'lat_both_seconds', 'lat_classic_seconds'],
  );
  const sum = values.reduce((a, b) => a + b, 0);
  const nativePart = {
    schema: 0,
    zeroThreshold: 0.001,
    zeroCount: 2,
    positiveSpan: [
      { offset: 0, length: 3 },
      { offset: 3, length: 1 },
    ],
    // Counts 2, 2, 1, then 1: deltas 2, 0, -1, 0.
    positiveDelta: [2, 0, -1, 0],
  };
  const classicPart = [
    { cumulativeCount: 4, upperBound: 1 },
    { cumulativeCount: 7, upperBound: 10 },
  ];
  const [n, b, c] = families.map((f) => compact(f.metric[0]!.histogram!));
  assert.deepEqual(n, { sampleCount: 8, sampleSum: sum, ...nativePart });
  assert.deepEqual(b, { sampleCount: 8, sampleSum: sum, bucket: classicPart, ...nativePart });
  assert.deepEqual(c, { sampleCount: 8, sampleSum: sum, bucket: classicPart });
  // A series without observations is still native: its zero threshold says so.
  assert.deepEqual(compact(families[0]!.metric[1]!.histogram!), {
    sampleCount: 0,
    sampleSum: 0,
    schema: 0,
    zeroThreshold: 0.001,
    zeroCount: 0,
  });
  assert.deepEqual(native.labels('AAPL').nativeSnapshot(), {
    schema: 0,
    zeroThreshold: 0.001,
    zeroCount: 2,
    spans: [
      { offset: 0, length: 3 },
      { offset: 3, length: 1 },
    ],
    counts: [2, 2, 1, 1],
  });
  // The text exposition of a native family is its classic buckets, unchanged.
  assert.match(reg.render('text'), /^lat_native_seconds_bucket\{s="AAPL",le="1\.0"\} 4$/m);
});

test('a large native histogram and a long family need multi-byte lengths, and still decode', () => {
  const reg = new Registry();
  const h = reg.histogram('wide_seconds', 'Wide.', ['s'], [1], {
    native: { schema: 8, zeroThreshold: 1e-9 },
  });
  const s = h.labels('x');
  // 2,000 distinct buckets of schema 8 between 1 and 2^8, counts 1 to 3.
  for (let i = 0; i < 2000; i++) for (let k = 0; k <= i % 3; k++) s.observe(2 ** ((i + 0.5) / 256));
  const g = reg.gauge('many', 'Many.', ['i']);
  for (let i = 0; i < 5000; i++) g.labels(String(i)).set(i);
  const [hist, gauges] = decodeFamilies(reg.renderBytes('protobuf'));
  const got = hist!.metric[0]!.histogram!;
  assert.deepEqual(got.positiveSpan, [{ offset: 1, length: 2000 }]);
  let count = 0;
  const counts = got.positiveDelta.map((d) => {
    count += d;
    return count;
  });
  assert.deepEqual(
    counts,
    Array.from({ length: 2000 }, (_, i) => (i % 3) + 1),
  );
  assert.equal(got.sampleCount, 3999);
  assert.equal(gauges!.metric.length, 5000);
  assert.deepEqual(gauges!.metric[4321], { label: [{ name: 'i', value: '4321' }], gauge: { value: 4321 } });
});

test('a counter kept from its first count renders no zeros; a text-only gauge stays out of protobuf', () => {
  const reg = new Registry();
  const late = reg.counter('late_total', 'Rare.', ['s'], { fromFirstCount: true });
  const window = reg.gauge('window_p95_seconds', 'Text only.', ['s'], { textOnly: true });
  const up = reg.gauge('up_gauge', 'Everywhere.');
  late.labels('AAPL');
  late.labels('MSFT');
  window.labels('AAPL').set(0.5);
  up.set(1);
  // No count yet: the family's header alone in text, no family at all in protobuf.
  assert.doesNotMatch(reg.render('text'), /^late_total\{/m);
  assert.doesNotMatch(reg.render('openmetrics'), /^late_total\{/m);
  assert.deepEqual(
    decodeFamilies(reg.renderBytes('protobuf')).map((f) => f.name),
    ['up_gauge'],
  );
  late.labels('MSFT').inc();
  const text = reg.render('text');
  assert.match(text, /^late_total\{s="MSFT"\} 1$/m);
  assert.doesNotMatch(text, /^late_total\{s="AAPL"\}/m);
  assert.match(text, /^window_p95_seconds\{s="AAPL"\} 0\.5$/m);
  const families = decodeFamilies(reg.renderBytes('protobuf'));
  assert.deepEqual(
    families.map((f) => [f.name, f.metric.map((m) => m.label.map((l) => l.value).join(','))]),
    [
      ['late_total', ['MSFT']],
      ['up_gauge', ['']],
    ],
  );
});
