import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningExporter } from '../src/cli/run.js';
import { exporterFor, publish, publisher } from './helpers/exporter.js';
import { eventually, freePort, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';

const RULES = 'deploy/prometheus/alerts.yml';
const DASHBOARD = 'deploy/grafana/tkmprom-dashboard.json';

interface QueryResult {
  status: string;
  error?: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('alert rules', () => {
  test('promtool accepts them and their unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 11 rules found/);
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

  before(async () => {
    broker = await startMosquitto();
    running = await exporterFor(broker.url, { 'request-timeout': '1s' }, (c) => {
      c.streams.rules = [{ pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' }];
    });
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-prometheus-'));
    copyFileSync(RULES, join(dir, 'alerts.yml'));
    const target = new URL(running.url).host;
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
      11,
    );

    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
    );
    assert.ok(exprs.length >= 25);
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
