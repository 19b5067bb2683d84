import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, freePort } from './helpers/mosquitto.js';

/**
 * Two real Prometheus 2.42 scrape the same demo (embedded broker, simulated fleet, exporter): one
 * with native histograms on, which asks for protobuf and stores each latency histogram as one
 * series, one without, which gets the text exposition and stores every `le` bucket.
 */

interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: [number, string, string, string][] }];
}

interface QueryResult {
  status: string;
  error?: string;
  data: { resultType: string; result: Sample[] };
}

/** Schema 5's bucket width (2^(1/32) - 1) plus the sketch's 1 %: the two resolutions added. */
const QUANTILE_TOLERANCE = 2 ** (1 / 32) - 1 + 0.01;

interface Prom {
  url: string;
  child: ChildProcess;
}

async function startPrometheus(target: string, features: string[]): Promise<Prom> {
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-native-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 2s',
      '  evaluation_interval: 2s',
      // The shipped recording rules: the fleet's quantiles read either kind of histogram.
      `rule_files: ['${resolve('deploy/prometheus/recording.yml')}']`,
      'scrape_configs:',
      '  - job_name: tkmprom',
      `    static_configs: [{ targets: ['${target}'] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...features.map((f) => `--enable-feature=${f}`),
    ],
    { stdio: 'ignore' },
  );
  return { url: `http://127.0.0.1:${port}`, child };
}

async function query(prom: Prom, expr: string): Promise<QueryResult> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryResult;
}

/** The value of a query with exactly one sample, else undefined. */
async function scalar(prom: Prom, expr: string): Promise<number | undefined> {
  const r = await query(prom, expr).catch(() => undefined);
  if (r?.status !== 'success' || r.data.result.length !== 1) return undefined;
  const v = r.data.result[0]!.value;
  return v === undefined ? undefined : Number(v[1]);
}

/** Prometheus' own count of the series in its head block, from its /metrics. */
async function headSeries(prom: Prom): Promise<number> {
  const text = await (await fetch(`${prom.url}/metrics`)).text();
  const m = /^prometheus_tsdb_head_series (\S+)$/m.exec(text);
  assert.ok(m, 'prometheus_tsdb_head_series in Prometheus /metrics');
  return Number(m[1]);
}

describe('native histograms in a real Prometheus 2.42', () => {
  let demo: ChildProcess;
  let native: Prom;
  let classic: Prom;
  let target: string;

  before(async () => {
    const [port, brokerPort] = [await freePort(), await freePort()];
    target = `127.0.0.1:${port}`;
    demo = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'demo',
        '--listen',
        target,
        '--broker-listen',
        `127.0.0.1:${brokerPort}`,
      ],
      { stdio: 'ignore' },
    );
    native = await startPrometheus(target, ['native-histograms']);
    classic = await startPrometheus(target, []);
    // TSLA answers in about 4 s: enough of its answers that the two quantile definitions (the
    // sketch's order statistic, Prometheus' interpolated rank) pick neighbouring values.
    // The native buckets start at the first protobuf scrape: count 60 answers in them.
    await eventually(
      async () =>
        ((await scalar(native, 'histogram_count(tickrmeter_stock_update_latency_seconds{symbol="TSLA"})')) ??
          0) >= 60,
      150_000,
      'the native Prometheus to scrape 60 TSLA answers in the native histogram',
    );
  });

  after(() => {
    native?.child.kill('SIGTERM');
    classic?.child.kill('SIGTERM');
    demo?.kill('SIGTERM');
  });

  test('the native Prometheus stores the latency histograms as native histograms, the other as buckets', async () => {
    const n = await query(native, 'tickrmeter_stock_update_latency_seconds{symbol="TSLA"}');
    assert.equal(n.status, 'success');
    assert.equal(n.data.result.length, 1);
    const h = n.data.result[0]!.histogram;
    assert.ok(h, 'a native histogram sample');
    assert.ok(Number(h[1].count) >= 60);
    // Its buckets are narrow: every one spans a factor of 2^(1/32).
    for (const [, lo, hi] of (h[1].buckets ?? []).map(([b, l, u]) => [b, Number(l), Number(u)] as const)) {
      if (lo > 0) assert.ok(Math.abs(hi / lo - 2 ** (1 / 32)) < 1e-9, `bucket ${lo}..${hi}`);
    }
    assert.equal(
      (await query(native, 'tickrmeter_stock_update_latency_seconds_bucket')).data.result.length,
      0,
    );
    const c = await query(classic, 'tickrmeter_stock_update_latency_seconds_bucket{symbol="TSLA"}');
    assert.equal(c.data.result.length, 11, 'ten bounds and +Inf');
    assert.equal(
      (await query(classic, 'tickrmeter_stock_update_latency_seconds{symbol="TSLA"}')).data.result.length,
      0,
    );
    // The rest is the same on both: counters and gauges do not depend on the format.
    assert.equal(
      (await query(native, 'tickrmeter_stock_update_requests_total')).data.result.length > 100,
      true,
    );
  });

  test("histogram_quantile over the native histogram agrees with the exporter's own p95 for TSLA", async () => {
    // Both from the same scrape: the window (5 min) still holds every answer since the start.
    const nativeP95 = await scalar(
      native,
      'histogram_quantile(0.95, tickrmeter_stock_update_latency_seconds{symbol="TSLA"})',
    );
    const gauge = await scalar(native, 'tickrmeter_stock_update_p95_latency_seconds{symbol="TSLA"}');
    const classicP95 = await scalar(
      classic,
      'histogram_quantile(0.95, tickrmeter_stock_update_latency_seconds_bucket{symbol="TSLA"})',
    );
    assert.ok(nativeP95 !== undefined && gauge !== undefined && classicP95 !== undefined);
    const error = Math.abs(nativeP95 / gauge - 1);
    console.log(
      `TSLA p95: exporter ${gauge.toFixed(4)} s, native histogram_quantile ${nativeP95.toFixed(4)} s ` +
        `(${(100 * error).toFixed(2)} % apart), classic buckets ${classicP95.toFixed(4)} s ` +
        `(${(100 * Math.abs(classicP95 / gauge - 1)).toFixed(1)} % apart)`,
    );
    assert.ok(gauge > 3 && gauge < 6, `TSLA's p95 is about 4 s: ${gauge}`);
    assert.ok(error <= QUANTILE_TOLERANCE, `native p95 ${nativeP95} against the exporter's ${gauge}`);
  });

  test('the dashboard panel on stream latency shows every stream with either kind of histogram', async () => {
    const dash = JSON.parse(readFileSync('deploy/grafana/dashboards/tkmprom-streams.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels
      .flatMap((p) => p.targets ?? [])
      .map((t) => t.expr)
      // The raw histogram; the fleet row reads recorded series (job_stream:...), tested below.
      .filter((e) => /(^|[^:])tickrmeter_stream_latency_seconds/.test(e));
    assert.equal(exprs.length, 1);
    const expr = exprs[0]!.replaceAll('$job', 'tkmprom').replaceAll('$instance', target);
    const streams = async (p: Prom) =>
      (await query(p, expr)).data.result
        .filter((r) => r.value !== undefined && Number.isFinite(Number(r.value[1])))
        .map((r) => r.metric.stream)
        .sort();
    await eventually(
      async () => (await streams(native)).length > 0 && (await streams(classic)).length > 0,
      30_000,
      'p95 by stream on both Prometheus',
    );
    assert.deepEqual(await streams(native), await streams(classic));
  });

  test("the shipped recording rules give the fleet's p95 per symbol and per stream from either kind", async () => {
    const p95 = 'job_symbol:tickrmeter_stock_update_latency_seconds:p95_5m{symbol="TSLA"}';
    let fromNative: number | undefined;
    let fromClassic: number | undefined;
    await eventually(
      async () => {
        fromNative = await scalar(native, p95);
        fromClassic = await scalar(classic, p95);
        return fromNative !== undefined && fromClassic !== undefined;
      },
      30_000,
      "the fleet's TSLA p95 recorded on both Prometheus",
    );
    const gauge = (await scalar(native, 'tickrmeter_stock_update_p95_latency_seconds{symbol="TSLA"}'))!;
    // The rule's own 5-minute rate against the exporter's window: the same answers, so the
    // native side stays within the resolutions; classic buckets (2 to 5 s here) are coarser.
    assert.ok(
      Math.abs(fromNative! / gauge - 1) <= QUANTILE_TOLERANCE,
      `native ${fromNative} against ${gauge}`,
    );
    assert.ok(Math.abs(fromClassic! / gauge - 1) <= 0.25, `classic ${fromClassic} against ${gauge}`);
    const streams = async (p: Prom) =>
      (await query(p, 'job_stream:tickrmeter_stream_latency_seconds:p95_5m >= 0')).data.result
        .map((r) => r.metric.stream)
        .sort();
    assert.deepEqual(await streams(native), await streams(classic));
    assert.ok((await streams(native)).length >= 2, `streams: ${await streams(native)}`);
  });

  test('head series: the native Prometheus holds a fraction of the classic one', async () => {
    // Both have scraped the same symbols (the demo's fleet asks for all of its symbols early on).
    let ratio = 0;
    let counts = { native: 0, classic: 0, nativeLatency: 0, classicLatency: 0 };
    await eventually(
      async () => {
        const symbols = await scalar(native, 'tkmprom_tracked_symbols');
        if (symbols === undefined || symbols !== (await scalar(classic, 'tkmprom_tracked_symbols')))
          return false;
        counts = {
          native: await headSeries(native),
          classic: await headSeries(classic),
          nativeLatency:
            (await scalar(
              native,
              'count({__name__=~"tickrmeter_(stock_update|stream)_latency_seconds.*"})',
            )) ?? 0,
          classicLatency:
            (await scalar(
              classic,
              'count({__name__=~"tickrmeter_(stock_update|stream)_latency_seconds.*"})',
            )) ?? 0,
        };
        return counts.native > 0 && counts.classic > 0;
      },
      30_000,
      'both Prometheus to track the same symbols',
    );
    ratio = counts.native / counts.classic;
    const latencyRatio = counts.nativeLatency / counts.classicLatency;
    console.log(
      `prometheus_tsdb_head_series: native ${counts.native}, classic ${counts.classic}, ratio ${ratio.toFixed(3)}; ` +
        `latency histogram series: native ${counts.nativeLatency}, classic ${counts.classicLatency}, ratio ${latencyRatio.toFixed(3)}`,
    );
    // A classic latency histogram is 13 series (10 bounds, +Inf, _count, _sum), a native one 1.
    assert.ok(latencyRatio <= 1 / 13 + 0.01, `latency histogram series ratio ${latencyRatio}`);
    // Every symbol keeps 10 other series (5 counters, 5 window gauges) in both: the whole head
    // shrinks to about 11/23 of the classic one.
    assert.ok(ratio < 0.5, `head series ratio ${ratio}`);
  });
});
