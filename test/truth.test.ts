import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Config } from '../src/config/index.js';
import { parseScenario, startSimulation, streamMappingRules, type Truth } from '../src/sim/index.js';
import { exporterFor } from './helpers/exporter.js';
import { eventually, freePort, startMosquitto } from './helpers/mosquitto.js';
import { type Scrape, scrape } from './helpers/scrape.js';

/**
 * Scaled so a run takes about half a minute: a 4 s request timeout (the simulator keeps replies
 * at least 1 s away from every edge), TSLA at 2.5 s, every fault kind of the scenario format.
 */
const SCENARIO = parseScenario(`
faults:
  - { symbol: TSLA, latency: 2500ms }
  - { stream: coingecko, drop: 1.0 }
  - { symbol: AAPL, error: STOCK_ERROR, rate: 0.5 }
  - { symbol: NVDA, late: 0.5 }
  - { outage: true, from: 8s, until: 10s }
  - { stream: polygon, latency: 1500ms, from: 5s }
`);
const TIMEOUT = '4s';

type Counts = { requests: number; responses: number; timeouts: number; errors: number; late: number };

function exported(s: Scrape, label: 'symbol' | 'stream'): Record<string, Counts> {
  const prefix = label === 'symbol' ? 'tickrmeter_stock_update_' : 'tickrmeter_stream_';
  const names: Record<keyof Counts, string> = {
    requests: `${prefix}requests_total`,
    responses: `${prefix}responses_total`,
    timeouts: `${prefix}timeout_total`,
    errors: `${prefix}errors_total`,
    late: `${prefix}late_responses_total`,
  };
  const out: Record<string, Counts> = {};
  for (const [field, name] of Object.entries(names) as [keyof Counts, string][]) {
    for (const [labels, v] of s.series(name)) {
      const m = new RegExp(`${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels);
      const key = m![1]!.replace(/\\(.)/g, '$1');
      out[key] ??= { requests: 0, responses: 0, timeouts: 0, errors: 0, late: 0 };
      out[key]![field] += v;
    }
  }
  for (const [k, c] of Object.entries(out)) {
    if (c.requests + c.responses + c.timeouts + c.errors + c.late === 0) delete out[k];
  }
  return out;
}

function nonZero(t: Record<string, Counts>): Record<string, Counts> {
  return Object.fromEntries(
    Object.entries(t).filter(([, c]) => c.requests + c.responses + c.timeouts + c.errors + c.late > 0),
  );
}

async function runAgainst(mqttUrl: string, tweak: (c: Config) => void = () => {}): Promise<void> {
  const running = await exporterFor(mqttUrl, { 'request-timeout': TIMEOUT }, (c) => {
    c.streams.rules = streamMappingRules();
    tweak(c);
  });
  try {
    const sim = await startSimulation({
      mqttUrl,
      devices: 250,
      speed: 40,
      seed: 7,
      durationMs: 15_000,
      scenario: SCENARIO,
      requestTimeoutMs: 4000,
    });
    const truth: Truth = await sim.done;
    await eventually(
      () => running.exporter.messages >= truth.messages,
      10_000,
      'every message to reach the exporter',
    );
    const s = await scrape(running.url);
    assert.equal(s.sum('tkmprom_messages_total'), truth.messages, 'messages');
    assert.equal(s.get('tkmprom_pending_requests'), 0, 'nothing left pending');
    const bySymbol = exported(s, 'symbol');
    assert.deepEqual(bySymbol, nonZero(truth.symbols), 'per-symbol counts equal the ground truth');
    assert.deepEqual(
      exported(s, 'stream'),
      nonZero(truth.streams),
      'per-stream counts equal the ground truth',
    );
    assert.equal(s.sum('tickrmeter_device_reboots_total'), truth.reboots, 'reboots');
    assert.equal(
      s.sum('tickrmeter_stock_update_non_quote_responses_total'),
      truth.nonQuote,
      'non-quote replies',
    );
    assert.equal(
      s.sum('tickrmeter_stock_update_unmatched_responses_total'),
      truth.unmatched,
      'unmatched replies',
    );
    // The faults show where they should.
    assert.ok(bySymbol.TSLA!.responses > 10);
    assert.ok(bySymbol.AAPL!.errors > 0);
    assert.ok(bySymbol.NVDA!.late > 0);
    assert.ok(truth.streams.coingecko!.timeouts > 0 && (truth.streams.coingecko!.responses ?? 0) === 0);
  } finally {
    await running.stop();
  }
}

describe("exporter against the simulator's ground truth", () => {
  test('through Mosquitto', async () => {
    const broker = await startMosquitto();
    try {
      await runAgainst(broker.url);
    } finally {
      await broker.stop();
    }
  });

  test('through the embedded broker', async () => {
    const port = await freePort();
    await runAgainst(`mqtt://127.0.0.1:${port}`, (c) => {
      c.embeddedBroker = { host: '127.0.0.1', port };
    });
  });

  test('the slow symbol ranks first', async () => {
    const broker = await startMosquitto();
    const running = await exporterFor(broker.url, { 'request-timeout': TIMEOUT }, (c) => {
      c.streams.rules = streamMappingRules();
    });
    try {
      const sim = await startSimulation({
        mqttUrl: broker.url,
        devices: 250,
        speed: 40,
        seed: 8,
        durationMs: 12_000,
        scenario: parseScenario(
          'faults:\n  - { symbol: TSLA, latency: 2500ms }\n  - { stream: coingecko, drop: 1.0 }\n',
        ),
        requestTimeoutMs: 4000,
      });
      await sim.done;
      const s = await scrape(running.url);
      const first = [...s.series('tickrmeter_slowest_symbols_ranking').keys()].find((k) =>
        k.startsWith('{rank="1",'),
      );
      assert.equal(first, '{rank="1",symbol="TSLA"}');
    } finally {
      await running.stop();
      await broker.stop();
    }
  });
});
