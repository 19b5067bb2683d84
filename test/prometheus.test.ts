import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningExporter } from '../src/cli/run.js';
import { exporterFor, publish, publisher } from './helpers/exporter.js';
import { eventually, freePort, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';

const RULES = 'deploy/prometheus/alerts.yml';
const RECORDING = 'deploy/prometheus/recording.yml';
const DASHBOARDS = 'deploy/grafana/dashboards';

/** Every panel query of every shipped dashboard, with the job and instance variables set. */
function dashboardQueries(job: string, instance: string): { title: string; expr: string }[] {
  return readdirSync(DASHBOARDS)
    .sort()
    .flatMap((file) => {
      const dash = JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as {
        panels: { title: string; targets?: { expr: string }[] }[];
      };
      return dash.panels.flatMap((p) =>
        (p.targets ?? []).map((t) => ({
          title: `${file}: ${p.title}`,
          expr: t.expr.replaceAll('$job', job).replaceAll('$instance', instance),
        })),
      );
    });
}

interface QueryResult {
  status: string;
  error?: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('alert rules', () => {
  test('promtool accepts them and their unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 15 rules found/);
    // The recording rules: the fleet across instances (tested with three instances in
    // alerts.test.yml) and the Go exporter's names.
    const recording = spawnSync('promtool', ['check', 'rules', RECORDING], { encoding: 'utf8' });
    assert.equal(recording.status, 0, recording.stdout + recording.stderr);
    assert.match(recording.stdout, /SUCCESS: 23 rules found/);
    const unit = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml'], {
      encoding: 'utf8',
    });
    assert.equal(unit.status, 0, unit.stdout + unit.stderr);
    assert.match(unit.stdout, /SUCCESS/);
  });
});

describe('a real Prometheus scraping the exporter', () => {
  let broker: Mosquitto;
  let running: RunningExporter;
  let prom: ChildProcess;
  let promUrl: string;
  let target: string;

  before(async () => {
    broker = await startMosquitto();
    running = await exporterFor(broker.url, { 'request-timeout': '1s' }, (c) => {
      c.streams.rules = [{ pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' }];
    });
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-prometheus-'));
    copyFileSync(RULES, join(dir, 'alerts.yml'));
    target = new URL(running.url).host;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: tkmprom\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
  });

  after(async () => {
    prom?.kill('SIGTERM');
    await running.stop();
    await broker.stop();
  });

  async function query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResult;
  }

  test('Prometheus ingests exact values, loads the rules, and every dashboard query runs', async () => {
    const pub = await publisher(broker.url);
    const D = '142B2FEB7A10';
    for (let i = 0; i < 3; i++) {
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: D, symbol: 'AAPL' });
      await publish(pub, D, { type: 'UPDATE', symbol: 'AAPL', updateInterval: 120 });
    }
    await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: D, symbol: 'BTC/USD' });
    await publish(pub, 'DEVICESTATUS_RES', {
      device: D,
      firmware_version: '45p',
      battery: '64',
      uptime: '60',
      isCharging: '0',
    });
    await pub.endAsync();

    const value = async (expr: string) => {
      const r = await query(expr);
      return r.status === 'success' && r.data.result.length === 1
        ? Number(r.data.result[0]!.value[1])
        : undefined;
    };
    await eventually(
      async () =>
        (await value('tickrmeter_stream_timeout_total{stream="coingecko"}').catch(() => undefined)) === 1,
      30_000,
      'Prometheus to scrape the coingecko timeout',
    );
    assert.equal(await value('up{job="tkmprom"}'), 1);
    assert.equal(await value('tickrmeter_stock_update_requests_total{symbol="AAPL"}'), 3);
    assert.equal(await value('tickrmeter_stock_update_responses_total{symbol="AAPL"}'), 3);
    assert.equal(await value('tickrmeter_stock_update_timeout_total{symbol="BTC/USD"}'), 1);
    assert.equal(await value('sum(tickrmeter_devices_online)'), 1);
    assert.equal(await value('tickrmeter_devices_by_battery_level{level="60-69"}'), 1);
    assert.equal(await value('tickrmeter_stream_health_score{stream="coingecko"}'), 0);

    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: { rules: unknown[] }[] };
    };
    assert.equal(rules.data.groups.length, 3);
    assert.equal(
      rules.data.groups.reduce((n, g) => n + g.rules.length, 0),
      15,
    );

    const exprs = dashboardQueries('tkmprom', target);
    assert.equal(exprs.length, 52);
    for (const { title, expr } of exprs) {
      const r = await query(expr);
      assert.equal(r.status, 'success', `${title}: ${expr}: ${r.error}`);
    }
    for (const expr of [
      'sum by (stream) (rate(tickrmeter_stream_requests_total[5m]))',
      'sum by (kind) (rate(tkmprom_messages_total[1m]))',
    ]) {
      await eventually(
        async () => (await query(expr)).data.result.length > 0,
        10_000,
        `${expr} to have data`,
      );
    }
  });
});

/** The text of the README section under `heading` (up to the next heading of its level or above). */
function readmeSection(heading: string): string {
  const readme = readFileSync('README.md', 'utf8');
  const level = heading.split(' ')[0]!;
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no section ${heading}`);
  const rest = readme.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`^#{1,${level.length}} `, 'm'));
  return next < 0 ? rest : rest.slice(0, next);
}

/** The README's migration table: each older name with the query that answers it now. */
function migrationQueries(): { old: string; expr: string }[] {
  return readmeSection('### Migration from the older Go exporter')
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((row) => {
      const cells = row.split(' | ');
      const code = (cell: string) => /`([^`]+)`/.exec(cell)![1]!;
      return { old: code(cells[0]!), expr: code(cells[1]!) };
    });
}

/** The queries of the README's cookbook: every ```promql block. */
function cookbookQueries(): string[] {
  return [...readmeSection('## PromQL cookbook').matchAll(/```promql\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.trim(),
  );
}

describe('a real Prometheus scraping the demo, with the shipped rules', () => {
  let demo: ChildProcess;
  let perDevice: ChildProcess;
  let prom: ChildProcess;
  let promUrl: string;
  let demoTarget: string;

  before(async () => {
    const [port, brokerPort, perDevicePort, promPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    demoTarget = `127.0.0.1:${port}`;
    demo = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'demo',
        '--listen',
        demoTarget,
        '--broker-listen',
        `127.0.0.1:${brokerPort}`,
      ],
      { stdio: 'ignore' },
    );
    // The demo has no per-device series; a second exporter with them on reads the demo's broker,
    // for the queries that need them (job tkmprom-per-device).
    perDevice = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'run',
        '--mqtt-url',
        `mqtt://127.0.0.1:${brokerPort}`,
        '--listen',
        `127.0.0.1:${perDevicePort}`,
        '--per-device-metrics',
        '1000',
        '--log-level',
        'silent',
      ],
      { stdio: 'ignore' },
    );
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-prometheus-demo-'));
    copyFileSync(RULES, join(dir, 'alerts.yml'));
    copyFileSync(RECORDING, join(dir, 'recording.yml'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files: [alerts.yml, recording.yml]',
        'scrape_configs:',
        '  - job_name: tkmprom',
        `    static_configs: [{ targets: ['${demoTarget}'] }]`,
        '  - job_name: tkmprom-per-device',
        `    static_configs: [{ targets: ['127.0.0.1:${perDevicePort}'] }]`,
        '',
      ].join('\n'),
    );
    promUrl = `http://127.0.0.1:${promPort}`;
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    // The crypto pairs' first timeouts come after the 10 s request timeout.
    await eventually(
      async () =>
        ((await query('tickrmeter_stream_timeout_total{stream="coingecko"} > 0').catch(() => undefined))?.data
          .result.length ?? 0) === 1,
      60_000,
      "Prometheus to scrape the demo's coingecko timeouts",
    );
  });

  after(() => {
    prom?.kill('SIGTERM');
    perDevice?.kill('SIGTERM');
    demo?.kill('SIGTERM');
  });

  async function query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResult;
  }

  /** The queries that return no series within `ms`, each with why. */
  async function withoutSeries(queries: { name: string; expr: string }[], ms: number): Promise<string[]> {
    const deadline = Date.now() + ms;
    let missing = queries;
    const why = new Map<string, string>();
    while (missing.length > 0 && Date.now() < deadline) {
      const still: typeof missing = [];
      for (const q of missing) {
        const r = await query(q.expr);
        if (r.status !== 'success' || r.data.result.length === 0) {
          still.push(q);
          why.set(q.name, r.status === 'success' ? 'no series' : `${r.error}`);
        }
      }
      missing = still;
      if (missing.length > 0) await new Promise((r) => setTimeout(r, 1000));
    }
    return missing.map((q) => `${q.name}: ${q.expr}: ${why.get(q.name)}`);
  }

  test('every panel of every shipped dashboard shows a series', async () => {
    const panels = dashboardQueries('tkmprom', demoTarget);
    assert.equal(panels.length, 52);
    const missing = await withoutSeries(
      panels.map((p) => ({ name: p.title, expr: p.expr })),
      30_000,
    );
    assert.deepEqual(missing, []);
  });

  test("every older name of the README's migration table answers", async () => {
    const rows = migrationQueries();
    assert.equal(rows.length, 11);
    const missing = await withoutSeries(
      rows.map((r) => ({ name: r.old, expr: r.expr })),
      30_000,
    );
    assert.deepEqual(missing, []);
    // The firmware distribution counts the demo's devices once (once they all connected: the
    // rule and a query read the fleet at different instants).
    const sumOf = async (expr: string) => (await query(expr)).data.result[0]?.value[1];
    await eventually(
      async () =>
        (await sumOf('sum(tickrmeter_firmware_distribution{job="tkmprom"})')) === '300' &&
        (await sumOf('sum(tickrmeter_devices_online{job="tkmprom"})')) === '300',
      30_000,
      'the 300 demo devices in tickrmeter_firmware_distribution',
    );
  });

  test("every query of the README's cookbook returns a series", async () => {
    const queries = cookbookQueries();
    assert.equal(queries.length, 12);
    const missing = await withoutSeries(
      queries.map((expr, i) => ({ name: `cookbook query ${i + 1}`, expr })),
      30_000,
    );
    assert.deepEqual(missing, []);
  });

  test('unmapped requests raise no stream alert; coingecko, which answers nothing, does', async () => {
    const streams = async () =>
      (await query('ALERTS{alertname="TickrmeterStreamDown",job="tkmprom"}')).data.result
        .map((r) => r.metric.stream)
        .sort();
    await eventually(
      async () => (await streams()).includes('coingecko'),
      30_000,
      'TickrmeterStreamDown for coingecko',
    );
    // unmapped has traffic and a health score that goes low at times (its symbol-less requests
    // of devices never answered time out), yet raises no stream alert, whatever the score.
    const unmapped = await query('tickrmeter_stream_health_score{job="tkmprom",stream="unmapped"}');
    assert.equal(unmapped.data.result.length, 1);
    assert.deepEqual(await streams(), ['coingecko']);
  });
});
