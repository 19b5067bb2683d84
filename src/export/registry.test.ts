import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from './registry.js';

test('counter: text keeps _total on HELP/TYPE, OpenMetrics names the family without it', () => {
  const reg = new Registry();
  const c = reg.counter('tkmprom_messages_total', 'Messages by kind.', ['kind', 'device']);
  c.labels('quote', 'tkm-1').inc();
  c.labels('quote', 'tkm-1').inc(2);
  c.labels('status', 'tkm-2').inc(0.5);
  c.labels('error', 'tkm-3');
  assert.equal(
    reg.render('text'),
    '# HELP tkmprom_messages_total Messages by kind.\n' +
      '# TYPE tkmprom_messages_total counter\n' +
      'tkmprom_messages_total{kind="quote",device="tkm-1"} 3\n' +
      'tkmprom_messages_total{kind="status",device="tkm-2"} 0.5\n' +
      'tkmprom_messages_total{kind="error",device="tkm-3"} 0\n',
  );
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE tkmprom_messages counter\n' +
      '# HELP tkmprom_messages Messages by kind.\n' +
      'tkmprom_messages_total{kind="quote",device="tkm-1"} 3\n' +
      'tkmprom_messages_total{kind="status",device="tkm-2"} 0.5\n' +
      'tkmprom_messages_total{kind="error",device="tkm-3"} 0\n' +
      '# EOF\n',
  );
});

test('gauge: set/inc/dec, special values, both formats', () => {
  const reg = new Registry();
  const g = reg.gauge('tkmprom_devices', 'Devices by state.', ['state']);
  g.labels('online').set(10);
  g.labels('online').inc();
  g.labels('online').dec(3);
  g.labels('offline').set(-2.25);
  g.labels('nan').set(Number.NaN);
  g.labels('inf').set(Number.POSITIVE_INFINITY);
  g.labels('neginf').set(Number.NEGATIVE_INFINITY);
  const body =
    'tkmprom_devices{state="online"} 8\n' +
    'tkmprom_devices{state="offline"} -2.25\n' +
    'tkmprom_devices{state="nan"} NaN\n' +
    'tkmprom_devices{state="inf"} +Inf\n' +
    'tkmprom_devices{state="neginf"} -Inf\n';
  assert.equal(
    reg.render('text'),
    '# HELP tkmprom_devices Devices by state.\n# TYPE tkmprom_devices gauge\n' + body,
  );
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE tkmprom_devices gauge\n# HELP tkmprom_devices Devices by state.\n' + body + '# EOF\n',
  );
});

test('histogram: cumulative buckets, +Inf, _count and _sum, canonical le, in both formats', () => {
  const reg = new Registry();
  const h = reg.histogram('tkmprom_reply_seconds', 'Reply latency.', ['kind'], [0.005, 0.1, 1, 10]);
  const q = h.labels('quote');
  for (const v of [0.001, 0.005, 0.05, 0.5, 0.7, 20]) q.observe(v);
  h.labels('status');
  const body =
    'tkmprom_reply_seconds_bucket{kind="quote",le="0.005"} 2\n' +
    'tkmprom_reply_seconds_bucket{kind="quote",le="0.1"} 3\n' +
    'tkmprom_reply_seconds_bucket{kind="quote",le="1.0"} 5\n' +
    'tkmprom_reply_seconds_bucket{kind="quote",le="10.0"} 5\n' +
    'tkmprom_reply_seconds_bucket{kind="quote",le="+Inf"} 6\n' +
    'tkmprom_reply_seconds_count{kind="quote"} 6\n' +
    'tkmprom_reply_seconds_sum{kind="quote"} 21.256\n' +
    'tkmprom_reply_seconds_bucket{kind="status",le="0.005"} 0\n' +
    'tkmprom_reply_seconds_bucket{kind="status",le="0.1"} 0\n' +
    'tkmprom_reply_seconds_bucket{kind="status",le="1.0"} 0\n' +
    'tkmprom_reply_seconds_bucket{kind="status",le="10.0"} 0\n' +
    'tkmprom_reply_seconds_bucket{kind="status",le="+Inf"} 0\n' +
    'tkmprom_reply_seconds_count{kind="status"} 0\n' +
    'tkmprom_reply_seconds_sum{kind="status"} 0\n';
  assert.equal(
    reg.render('text'),
    '# HELP tkmprom_reply_seconds Reply latency.\n# TYPE tkmprom_reply_seconds histogram\n' + body,
  );
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE tkmprom_reply_seconds histogram\n# HELP tkmprom_reply_seconds Reply latency.\n' +
      body +
      '# EOF\n',
  );
  assert.deepEqual(h.get('quote'), { buckets: [2, 3, 5, 5, 6], count: 6, sum: 21.256 });
  assert.equal(h.get('nothing'), undefined);
});

test('histogram without labels, and with negative bounds (no sum or count in OpenMetrics)', () => {
  const reg = new Registry();
  const h = reg.histogram(
    'tkmprom_clock_offset_seconds',
    'Offset.',
    [],
    [-1, 0, 1, Number.POSITIVE_INFINITY],
  );
  assert.deepEqual(h.buckets, [-1, 0, 1]);
  h.observe(-3);
  h.observe(0);
  h.observe(0.5);
  const buckets =
    'tkmprom_clock_offset_seconds_bucket{le="-1.0"} 1\n' +
    'tkmprom_clock_offset_seconds_bucket{le="0.0"} 2\n' +
    'tkmprom_clock_offset_seconds_bucket{le="1.0"} 3\n' +
    'tkmprom_clock_offset_seconds_bucket{le="+Inf"} 3\n';
  assert.equal(
    reg.render('text'),
    '# HELP tkmprom_clock_offset_seconds Offset.\n# TYPE tkmprom_clock_offset_seconds histogram\n' +
      buckets +
      'tkmprom_clock_offset_seconds_count 3\n' +
      'tkmprom_clock_offset_seconds_sum -2.5\n',
  );
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE tkmprom_clock_offset_seconds histogram\n# HELP tkmprom_clock_offset_seconds Offset.\n' +
      buckets +
      '# EOF\n',
  );
});

test('histogram bucket search agrees between the linear scan and the binary search', () => {
  const reg = new Registry();
  const bounds = Array.from({ length: 40 }, (_, i) => (i + 1) / 4);
  const big = reg.histogram('big', 'Many buckets.', [], bounds).labels();
  const smallBounds = bounds.slice(0, 16);
  const small = reg.histogram('small', 'Few buckets.', [], smallBounds).labels();
  const values = [-1, 0, 0.25, 0.26, 1, 3.99, 4, 4.01, 9.75, 10, 10.01, 1e9];
  for (const v of values) {
    big.observe(v);
    small.observe(v);
  }
  const expectCounts = (b: number[]): number[] => {
    const counts = new Array(b.length + 1).fill(0);
    for (const v of values) {
      const i = b.findIndex((x) => v <= x);
      counts[i < 0 ? b.length : i]++;
    }
    return counts;
  };
  assert.deepEqual(Array.from(big.counts), expectCounts(bounds));
  assert.deepEqual(Array.from(small.counts), expectCounts(smallBounds));
});

test('label values and help are escaped; labels render in registration order', () => {
  const reg = new Registry();
  const c = reg.counter('esc_total', 'Help with "quotes", a \\ backslash\nand a second line.', ['z', 'a']);
  c.labels('back\\slash', 'quote"and\nnewline').inc();
  assert.equal(
    reg.render('text'),
    '# HELP esc_total Help with "quotes", a \\\\ backslash\\nand a second line.\n' +
      '# TYPE esc_total counter\n' +
      'esc_total{z="back\\\\slash",a="quote\\"and\\nnewline"} 1\n',
  );
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE esc counter\n' +
      '# HELP esc Help with \\"quotes\\", a \\\\ backslash\\nand a second line.\n' +
      'esc_total{z="back\\\\slash",a="quote\\"and\\nnewline"} 1\n' +
      '# EOF\n',
  );
});

test('families render in registration order; label-less families exist at 0 from registration', () => {
  const reg = new Registry();
  reg.gauge('b_gauge', 'B.');
  reg.counter('a_total', 'A.');
  reg.histogram('c_seconds', 'C.', [], [1]);
  reg.gauge('d_labelled', 'D.', ['x']);
  assert.equal(
    reg.render('text'),
    '# HELP b_gauge B.\n# TYPE b_gauge gauge\nb_gauge 0\n' +
      '# HELP a_total A.\n# TYPE a_total counter\na_total 0\n' +
      '# HELP c_seconds C.\n# TYPE c_seconds histogram\n' +
      'c_seconds_bucket{le="1.0"} 0\nc_seconds_bucket{le="+Inf"} 0\nc_seconds_count 0\nc_seconds_sum 0\n' +
      '# HELP d_labelled D.\n# TYPE d_labelled gauge\n',
  );
});

test('an empty registry renders nothing, or just # EOF', () => {
  const reg = new Registry();
  assert.equal(reg.render('text'), '');
  assert.equal(reg.render('openmetrics'), '# EOF\n');
});

test('an empty help string leaves the HELP line out', () => {
  const reg = new Registry();
  reg.counter('quiet_total', '');
  assert.equal(reg.render('text'), '# TYPE quiet_total counter\nquiet_total 0\n');
  assert.equal(reg.render('openmetrics'), '# TYPE quiet counter\nquiet_total 0\n# EOF\n');
});

test('labels() returns the same handle for the same tuple, distinct ones otherwise', () => {
  const reg = new Registry();
  const c = reg.counter('h_total', 'H.', ['a', 'b']);
  const h = c.labels('x', 'y');
  assert.equal(c.labels('x', 'y'), h);
  // Values that would collide under a naive separator join stay distinct.
  assert.notEqual(c.labels('x:1', 'y'), c.labels('x', '1:y'));
  assert.notEqual(c.labels('a,b', 'c'), c.labels('a', 'b,c'));
  h.inc(5);
  assert.equal(c.get('x', 'y'), 5);
  assert.equal(c.get('x', 'z'), undefined);
  assert.equal(c.size, 5);
});

test('get/entries/remove/reset', () => {
  const reg = new Registry();
  const c = reg.counter('r_total', 'R.', ['device']);
  c.labels('a').inc(1);
  c.labels('b').inc(2);
  assert.deepEqual(c.entries(), [
    { labels: { device: 'a' }, value: 1 },
    { labels: { device: 'b' }, value: 2 },
  ]);
  assert.equal(c.remove('a'), true);
  assert.equal(c.remove('a'), false);
  assert.equal(c.get('a'), undefined);
  assert.equal(reg.render('text'), '# HELP r_total R.\n# TYPE r_total counter\nr_total{device="b"} 2\n');

  const top = reg.gauge('top', 'Top N.', ['rank', 'symbol']);
  top.labels('1', 'AAPL').set(10);
  top.labels('2', 'MSFT').set(5);
  top.reset();
  top.labels('1', 'MSFT').set(12);
  assert.deepEqual(top.entries(), [{ labels: { rank: '1', symbol: 'MSFT' }, value: 12 }]);
  assert.equal(top.get('1', 'AAPL'), undefined);

  const h = reg.histogram('rh_seconds', 'RH.', ['k'], [1]);
  h.labels('x').observe(0.5);
  assert.deepEqual(h.entries(), [{ labels: { k: 'x' }, buckets: [1, 1], count: 1, sum: 0.5 }]);
});

test('label-less shorthands, and what reset does to them', () => {
  const reg = new Registry();
  const c = reg.counter('s_total', 'S.');
  c.inc();
  c.inc(2);
  assert.equal(c.get(), 3);
  assert.equal(c.labels(), c.labels());
  const g = reg.gauge('s_gauge', 'S.');
  g.set(5);
  g.inc(2);
  g.dec();
  assert.equal(g.get(), 6);
  g.reset();
  assert.equal(g.get(), undefined);
  g.set(1);
  assert.equal(g.get(), 1);
  const h = reg.histogram('s_seconds', 'S.', [], [1]);
  h.observe(2);
  assert.deepEqual(h.get(), { buckets: [0, 1], count: 1, sum: 2 });
});

test('onCollect hooks run before each render, in order', () => {
  const reg = new Registry();
  const g = reg.gauge('collected', 'C.');
  const calls: string[] = [];
  let n = 0;
  reg.onCollect(() => {
    calls.push('first');
    g.set(++n);
  });
  reg.onCollect(() => calls.push('second'));
  assert.equal(reg.render('text'), '# HELP collected C.\n# TYPE collected gauge\ncollected 1\n');
  assert.equal(
    reg.render('openmetrics'),
    '# TYPE collected gauge\n# HELP collected C.\ncollected 2\n# EOF\n',
  );
  assert.deepEqual(calls, ['first', 'second', 'first', 'second']);
});

test('counters refuse negative and NaN increments; histograms refuse NaN', () => {
  const reg = new Registry();
  const c = reg.counter('n_total', 'N.');
  assert.throws(() => c.inc(-1), RangeError);
  assert.throws(() => c.inc(Number.NaN), RangeError);
  assert.equal(c.get(), 0);
  const h = reg.histogram('n_seconds', 'N.', [], [1]);
  assert.throws(() => h.observe(Number.NaN), RangeError);
  assert.deepEqual(h.get(), { buckets: [0, 0], count: 0, sum: 0 });
});

test('registration errors: invalid names, duplicates and clashes, label problems, bad buckets', () => {
  const reg = new Registry();
  reg.counter('dup_total', 'D.');
  reg.gauge('g', 'G.');
  reg.histogram('lat_seconds', 'L.', [], [1]);
  const cases: Array<[() => unknown, RegExp]> = [
    [() => reg.gauge('bad-name', 'x'), /invalid metric name "bad-name"/],
    [() => reg.gauge('9x', 'x'), /invalid metric name/],
    [() => reg.gauge('_x', 'x'), /invalid metric name/],
    [() => reg.counter('no_suffix', 'x'), /must end with _total/],
    [() => reg.counter('_total', 'x'), /must end with _total/],
    [() => reg.counter('dup_total', 'again'), /metric dup_total is already registered/],
    [() => reg.gauge('g', 'again'), /metric g is already registered/],
    // Would share the OpenMetrics family name `dup`.
    [() => reg.gauge('dup', 'x'), /metric dup clashes with dup_total over the name dup$/],
    [() => reg.counter('g_total', 'x'), /metric g_total clashes with g over the name g$/],
    [() => reg.gauge('lat_seconds_count', 'x'), /clashes with lat_seconds over the name lat_seconds_count$/],
    [
      () => reg.gauge('lat_seconds_bucket', 'x'),
      /clashes with lat_seconds over the name lat_seconds_bucket$/,
    ],
    [() => reg.histogram('dup_created', 'x', [], [1]), /clashes with dup_total over the name dup_created$/],
    [() => reg.gauge('l1', 'x', ['ok', 'bad-label']), /invalid label name "bad-label"/],
    [() => reg.gauge('l2', 'x', ['__name__']), /invalid label name "__name__"/],
    [() => reg.gauge('l3', 'x', ['a', 'a']), /duplicate label name "a"/],
    [() => reg.histogram('h1', 'x', ['le'], [1]), /must not have a label named le/],
    [() => reg.histogram('h2', 'x', [], [1, 1]), /strictly increasing/],
    [() => reg.histogram('h3', 'x', [], [2, 1]), /strictly increasing/],
    [() => reg.histogram('h4', 'x', [], [Number.NaN]), /finite/],
    [() => reg.histogram('h5', 'x', [], [Number.POSITIVE_INFINITY, 1]), /finite/],
  ];
  for (const [fn, re] of cases) assert.throws(fn, re);
  // A failed registration claims no names.
  assert.doesNotThrow(() => reg.gauge('l1', 'x', ['ok']));
});

test('label value count must match the label names', () => {
  const reg = new Registry();
  const c = reg.counter('m_total', 'M.', ['a', 'b']);
  assert.throws(() => c.labels('x'), /m_total takes 2 label value\(s\) \(a, b\), got 1/);
  assert.throws(() => c.labels('x', 'y', 'z'), /got 3/);
  assert.throws(() => c.inc(), /got 0/);
  assert.throws(() => c.get('x'), /got 1/);
  assert.throws(() => c.remove(), /got 0/);
  const g = reg.gauge('m_gauge', 'M.');
  assert.throws(() => g.labels('x'), /m_gauge takes 0 label value\(s\) \(\), got 1/);
});

test('getFamily and listFamilies', () => {
  const reg = new Registry();
  const c = reg.counter('f_total', 'F.');
  const g = reg.gauge('f_gauge', 'F.');
  assert.equal(reg.getFamily('f_total'), c);
  assert.equal(reg.getFamily('f'), undefined);
  assert.deepEqual(reg.listFamilies(), [c, g]);
  assert.equal(c.type, 'counter');
  assert.equal(c.familyName, 'f');
});

test('counter and histogram totals round-trip into another registry, handles held before or after', () => {
  const make = () => {
    const reg = new Registry();
    return {
      reg,
      c: reg.counter('t_requests_total', '', ['symbol', 'kind']),
      h: reg.histogram('t_latency_seconds', '', ['symbol'], [0.1, 1]),
    };
  };
  const a = make();
  a.c.labels('A:B', 'x').inc(3);
  a.c.labels('C', '').inc(1);
  a.h.labels('A').observe(0.05);
  a.h.labels('A').observe(5);
  const b = make();
  const held = b.c.labels('C', '');
  b.c.restoreTotals(JSON.parse(JSON.stringify(a.c.totals())));
  b.h.restoreTotals(JSON.parse(JSON.stringify(a.h.totals())));
  assert.equal(held.value, 1);
  assert.equal(b.c.get('A:B', 'x'), 3);
  assert.deepEqual(b.h.get('A'), { buckets: [1, 1, 2], count: 2, sum: 5.05 });
  b.h.labels('A').observe(0.5);
  assert.deepEqual(b.h.get('A')!.buckets, [1, 2, 3]);
  assert.throws(() => b.h.restoreTotals([[['A'], [1, 2], 0]]), /saved with 1 buckets, now 2/);
  assert.throws(() => b.c.restoreTotals([[['A', 'x'], -1]]), /non-negative/);
});
