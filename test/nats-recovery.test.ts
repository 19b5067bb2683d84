import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { partitionOf } from '../src/config/index.js';
import type { Truth } from '../src/sim/index.js';
import { type ExporterProcess, sleep, spawnExporter } from './helpers/exporter.js';
import { eventually } from './helpers/mosquitto.js';
import { NATS_TEST_PASSWORD, type NatsServer, startNatsServer } from './helpers/nats.js';
import { type Scrape, scrape } from './helpers/scrape.js';

/**
 * Exact recovery (README "State across restarts"): three exporters read the three partitions of a
 * simulated fleet through nats-server and a keyer; one is killed with SIGKILL mid-run and started
 * again on its state directory. At the end the counters summed over the three equal the
 * simulator's ground truth exactly, and every device is online in exactly one of them.
 */
const N = 3;
const DEVICES = 200;
const TIMEOUT = '4s';
const SCENARIO = `
faults:
  - { symbol: TSLA, latency: 2500ms }
  - { stream: coingecko, drop: 1.0 }
  - { symbol: AAPL, error: STOCK_ERROR, rate: 0.5 }
  - { symbol: NVDA, late: 0.5 }
`;
const env = { TKMPROM_NATS_PASSWORD: NATS_TEST_PASSWORD };
const cli = ['--import', 'tsx', 'src/cli/main.ts'];

type Counts = { requests: number; responses: number; timeouts: number; errors: number; late: number };
const FIELDS: Record<keyof Counts, string> = {
  requests: 'tickrmeter_stock_update_requests_total',
  responses: 'tickrmeter_stock_update_responses_total',
  timeouts: 'tickrmeter_stock_update_timeout_total',
  errors: 'tickrmeter_stock_update_errors_total',
  late: 'tickrmeter_stock_update_late_responses_total',
};

/** Per-symbol counts summed over every scrape, symbols with nothing left out. */
function bySymbol(scrapes: Scrape[]): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const s of scrapes) {
    for (const [field, name] of Object.entries(FIELDS) as [keyof Counts, string][]) {
      for (const [labels, v] of s.series(name)) {
        const symbol = /symbol="((?:[^"\\]|\\.)*)"/.exec(labels)![1]!.replace(/\\(.)/g, '$1');
        out[symbol] ??= { requests: 0, responses: 0, timeouts: 0, errors: 0, late: 0 };
        out[symbol]![field] += v;
      }
    }
  }
  return nonZero(out);
}

function nonZero(t: Record<string, Partial<Counts>>): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const [k, c] of Object.entries(t)) {
    const full = {
      requests: c.requests ?? 0,
      responses: c.responses ?? 0,
      timeouts: c.timeouts ?? 0,
      errors: c.errors ?? 0,
      late: c.late ?? 0,
    };
    if (full.requests + full.responses + full.timeouts + full.errors + full.late > 0) out[k] = full;
  }
  return out;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('exact recovery of a NATS partition after kill -9 (--state-dir)', () => {
  let nats: NatsServer;
  let keyer: ChildProcess;
  const dirs: string[] = [];
  const exporters: ExporterProcess[] = [];
  const work = mkdtempSync(join(tmpdir(), 'tkmprom-recovery-'));

  const exporterArgs = (k: number) => [
    '--nats-url',
    `nats://127.0.0.1:${nats.port}`,
    '--partition',
    `${k}/${N}`,
    '--state-dir',
    dirs[k]!,
    '--state-interval',
    '1s',
    '--request-timeout',
    TIMEOUT,
    '--per-device-metrics',
    String(DEVICES),
    '--log-level',
    'warn',
  ];

  before(async () => {
    nats = await startNatsServer(N);
    keyer = spawn(
      process.execPath,
      [
        ...cli,
        'keyer',
        '--nats-url',
        `nats://127.0.0.1:${nats.port}`,
        '--partitions',
        String(N),
        '--log-level',
        'warn',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    // The keyer creates the stream; the exporters find it.
    await sleep(1500);
    for (let k = 0; k < N; k++) {
      dirs.push(mkdtempSync(join(work, `state-${k}-`)));
      exporters.push(await spawnExporter(exporterArgs(k), env));
    }
  });

  after(async () => {
    for (const e of exporters) await e.stop();
    if (keyer && keyer.exitCode === null) {
      keyer.kill('SIGTERM');
      await exited(keyer);
    }
    await nats?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  test('the counters summed over the instances equal the truth, one instance killed and restarted midway', async () => {
    const scenarioFile = join(work, 'scenario.yaml');
    const truthFile = join(work, 'truth.json');
    writeFileSync(scenarioFile, SCENARIO);
    const sim = spawn(
      process.execPath,
      [
        ...cli,
        'simulate',
        '--mqtt-url',
        nats.mqttUrl,
        '--devices',
        String(DEVICES),
        '--speed',
        '40',
        '--seed',
        '11',
        '--duration',
        '20s',
        '--request-timeout',
        TIMEOUT,
        '--scenario',
        scenarioFile,
        '--truth',
        truthFile,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const simDone = exited(sim);

    // Mid-run, after at least one snapshot: kill -9, a pause while the fleet goes on, restart.
    await sleep(9000);
    const victim = exporters[1]!;
    const beforeKill = await scrape(victim.url);
    assert.ok(beforeKill.sum('tkmprom_messages_total') > 0, 'the victim read messages before it died');
    victim.child.kill('SIGKILL');
    await exited(victim.child);
    await sleep(3000);
    // Until the replay has caught up, /metrics answers 503 with the reason, as /readyz does.
    const answers: { metrics: number; body: string; readyz: number }[] = [];
    exporters[1] = await spawnExporter(exporterArgs(1), env, async (url) => {
      const m = await fetch(`${url}/metrics`).catch(() => undefined);
      if (m === undefined) return;
      const body = await m.text();
      const r = await fetch(`${url}/readyz`);
      answers.push({ metrics: m.status, body: m.status === 503 ? body : '', readyz: r.status });
      await r.text();
    });
    const withheld = answers.filter((a) => a.metrics === 503);
    assert.ok(withheld.length > 0, `/metrics answered 503 during the replay (${JSON.stringify(answers)})`);
    assert.match(
      withheld[0]!.body,
      /^not ready: reading the backlog of partition 1: at stream sequence \d+ of \d+\n$/,
    );
    assert.ok(
      answers.every((a) => a.metrics === 503 || a.readyz === 200),
      '/metrics answers only once /readyz is ready',
    );

    assert.equal(await simDone, 0, 'the simulator ends well');
    const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as Truth;

    // Every instance has handed on all it holds and decided every request.
    let scrapes: Scrape[] = [];
    await eventually(
      async () => {
        scrapes = await Promise.all(exporters.map((e) => scrape(e.url)));
        const messages = scrapes.reduce((n, s) => n + s.sum('tkmprom_messages_total'), 0);
        const pending = scrapes.reduce((n, s) => n + s.sum('tkmprom_pending_requests'), 0);
        return messages === truth.messages && pending === 0;
      },
      20_000,
      'every message to be counted once and nothing to be left pending',
    );
    const sum = (name: string) => scrapes.reduce((n, s) => n + s.sum(name), 0);
    assert.equal(sum('tkmprom_messages_total'), truth.messages, 'messages');
    assert.deepEqual(bySymbol(scrapes), nonZero(truth.symbols), 'per-symbol counts equal the ground truth');
    assert.equal(sum('tickrmeter_stock_update_interrupted_total'), 0, 'nothing interrupted');
    assert.equal(sum('tickrmeter_stock_update_unmatched_responses_total'), truth.unmatched, 'unmatched');
    assert.equal(sum('tickrmeter_stock_update_non_quote_responses_total'), truth.nonQuote, 'non-quote');
    assert.equal(sum('tickrmeter_device_reboots_total'), truth.reboots, 'reboots');
    // The restarted instance continued its counters rather than starting from zero.
    const restarted = scrapes[1]!;
    assert.ok(
      restarted.sum('tkmprom_messages_total') > beforeKill.sum('tkmprom_messages_total'),
      'the restarted instance counts on from the snapshot',
    );
    // Every device online in exactly one instance: its own partition's.
    const onlineIn = new Map<string, number[]>();
    scrapes.forEach((s, k) => {
      for (const [labels, v] of s.series('tickrmeter_device_online')) {
        if (v !== 1) continue;
        const id = /device_id="([^"]*)"/.exec(labels)![1]!;
        onlineIn.set(id, [...(onlineIn.get(id) ?? []), k]);
      }
    });
    assert.equal(onlineIn.size, DEVICES, 'every device is online somewhere');
    for (const [id, ks] of onlineIn) assert.deepEqual(ks, [partitionOf(id, N)], `device ${id}`);
    assert.equal(sum('tickrmeter_devices_online'), DEVICES, 'devices online summed over the instances');
  });
});
