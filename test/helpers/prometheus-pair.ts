import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './mosquitto.js';

/**
 * A real Prometheus scraping one target every second with the shipped recording rules, and what
 * its head holds: for the test and the benchmark that set one with native histograms beside one
 * without, scraping the same exporter.
 */

export interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: [number, string, string, string][] }];
}

export interface QueryResult {
  status: string;
  error?: string;
  data: { resultType: string; result: Sample[] };
}

export interface Prom {
  url: string;
  child: ChildProcess;
  data: string;
}

export const RECORDING = resolve('deploy/prometheus/recording.yml');

/** The names the shipped recording rules write: what a Prometheus holds beyond its scrapes. */
export const RECORDED = [...readFileSync(RECORDING, 'utf8').matchAll(/^\s*- record: (\S+)$/gm)].map(
  (m) => m[1]!,
);

/** `spawn` by default; the benchmark passes its own, which tracks the process for clean-up. */
export async function startPrometheus(
  target: string,
  features: string[],
  spawnProcess: (cmd: string, args: string[]) => ChildProcess = (cmd, args) =>
    spawn(cmd, args, { stdio: 'ignore' }),
): Promise<Prom> {
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-prometheus-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      // The shipped recording rules: the fleet's quantiles read either kind of histogram.
      `rule_files: ['${RECORDING}']`,
      'scrape_configs:',
      '  - job_name: tkmprom',
      `    static_configs: [{ targets: ['${target}'] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawnProcess('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // For a snapshot of the head, whose block tells the bytes per sample.
    '--web.enable-admin-api',
    ...features.map((f) => `--enable-feature=${f}`),
  ]);
  return { url: `http://127.0.0.1:${port}`, child, data: join(dir, 'data') };
}

export async function query(prom: Prom, expr: string): Promise<QueryResult> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryResult;
}

/** The value of a query with exactly one sample, else undefined. */
export async function scalar(prom: Prom, expr: string): Promise<number | undefined> {
  const r = await query(prom, expr).catch(() => undefined);
  if (r?.status !== 'success' || r.data.result.length !== 1) return undefined;
  const v = r.data.result[0]!.value;
  return v === undefined ? undefined : Number(v[1]);
}

/** Prometheus' own count of the series in its head block, from its /metrics. */
export async function headSeries(prom: Prom): Promise<number> {
  const text = await (await fetch(`${prom.url}/metrics`)).text();
  const m = /^prometheus_tsdb_head_series (\S+)$/m.exec(text);
  if (!m) throw new Error(`no prometheus_tsdb_head_series in ${prom.url}/metrics`);
  return Number(m[1]);
}

export interface HeadFigures {
  /**
   * `prometheus_tsdb_head_series`: every series of the head, those that ended (a ranking's moves,
   * a gauge gone with its symbol's requests) until the head drops them, hours later.
   */
  head: number;
  /** Series with a current sample, of the scrape and of the recording rules. */
  live: number;
  /** Of them what the recording rules write. */
  recorded: number;
  /** Of them what the scrape brought: the exporter's series, and Prometheus' own `up` and `scrape_*`. */
  scraped: number;
  /** Series of the two latency histograms (`_bucket`, `_count`, `_sum`, or the native one). */
  latency: number;
}

export async function headFigures(p: Prom): Promise<HeadFigures> {
  const head = await headSeries(p);
  const live = (await scalar(p, 'count({__name__=~".+"})')) ?? 0;
  const recorded = (await scalar(p, `count({__name__=~"${RECORDED.join('|')}"})`)) ?? 0;
  const latency =
    (await scalar(p, 'count({__name__=~"tickrmeter_(stock_update|stream)_latency_seconds.*"})')) ?? 0;
  return { head, live, recorded, scraped: live - recorded, latency };
}

export interface StoredFigures {
  series: number;
  samples: number;
  /** Bytes of the chunks files. */
  bytes: number;
}

/** A snapshot of the head (admin API), read from its blocks' meta.json and chunk files. */
export async function storedFigures(p: Prom): Promise<StoredFigures> {
  const res = await fetch(`${p.url}/api/v1/admin/tsdb/snapshot`, { method: 'POST' });
  const body = (await res.json()) as { status: string; data?: { name: string } };
  if (body.status !== 'success' || !body.data)
    throw new Error(`snapshot of ${p.url}: ${JSON.stringify(body)}`);
  const dir = join(p.data, 'snapshots', body.data.name);
  const out = { series: 0, samples: 0, bytes: 0 };
  for (const block of readdirSync(dir)) {
    const meta = JSON.parse(readFileSync(join(dir, block, 'meta.json'), 'utf8')) as {
      stats: { numSeries: number; numSamples: number };
    };
    out.series += meta.stats.numSeries;
    out.samples += meta.stats.numSamples;
    for (const f of readdirSync(join(dir, block, 'chunks')))
      out.bytes += statSync(join(dir, block, 'chunks', f)).size;
  }
  return out;
}
