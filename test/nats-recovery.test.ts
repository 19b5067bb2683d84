import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { partitionOf } from '../src/config/index.js';
import { sleep } from './helpers/exporter.js';
import { eventually } from './helpers/mosquitto.js';
import {
  bySymbol,
  exited,
  type NatsFleet,
  startNatsFleet,
  truthBySymbol,
  writeScenario,
} from './helpers/nats-fleet.js';
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

describe('exact recovery of a NATS partition after kill -9 (--state-dir)', () => {
  let fleet: NatsFleet;
  before(async () => {
    fleet = await startNatsFleet(N, [
      '--state-interval',
      '1s',
      '--request-timeout',
      TIMEOUT,
      '--per-device-metrics',
      String(DEVICES),
      '--log-level',
      'warn',
    ]);
  });
  after(async () => {
    await fleet?.destroy();
  });

  test('the counters summed over the instances equal the truth, one instance killed and restarted midway', async () => {
    const scenario = writeScenario(fleet, SCENARIO);
    const simArgs = ['--devices', String(DEVICES), '--speed', '40', '--seed', '11', '--duration', '20s'];
    let beforeKill: Scrape | undefined;
    const answers: { metrics: number; body: string; readyz: number }[] = [];
    const truth = await fleet.simulate(
      [...simArgs, '--request-timeout', TIMEOUT, '--scenario', scenario],
      async () => {
        // Mid-run, after a few snapshots: kill -9, a pause while the fleet goes on, restart.
        await sleep(9000);
        const victim = fleet.exporters[1]!;
        beforeKill = await scrape(victim.url);
        victim.child.kill('SIGKILL');
        await exited(victim.child);
        await sleep(3000);
        // Until the replay has caught up, /metrics answers 503 with the reason, as /readyz does.
        await fleet.restart(1, async (url) => {
          const m = await fetch(`${url}/metrics`).catch(() => undefined);
          if (m === undefined) return;
          const body = await m.text();
          const r = await fetch(`${url}/readyz`);
          answers.push({ metrics: m.status, body: m.status === 503 ? body : '', readyz: r.status });
          await r.text();
        });
      },
    );
    assert.ok(beforeKill!.sum('tkmprom_messages_total') > 0, 'the victim read messages before it died');
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

    // Every instance has handed on all it holds and decided every request.
    let scrapes: Scrape[] = [];
    await eventually(
      async () => {
        scrapes = await Promise.all(fleet.exporters.map((e) => scrape(e.url)));
        const messages = scrapes.reduce((n, s) => n + s.sum('tkmprom_messages_total'), 0);
        const pending = scrapes.reduce((n, s) => n + s.sum('tkmprom_pending_requests'), 0);
        return messages === truth.messages && pending === 0;
      },
      20_000,
      'every message to be counted once and nothing to be left pending',
    );
    const sum = (name: string) => scrapes.reduce((n, s) => n + s.sum(name), 0);
    assert.equal(sum('tkmprom_messages_total'), truth.messages, 'messages');
    assert.deepEqual(bySymbol(scrapes), truthBySymbol(truth), 'per-symbol counts equal the ground truth');
    assert.equal(sum('tickrmeter_stock_update_interrupted_total'), 0, 'nothing interrupted');
    assert.equal(sum('tickrmeter_stock_update_unmatched_responses_total'), truth.unmatched, 'unmatched');
    assert.equal(sum('tickrmeter_stock_update_non_quote_responses_total'), truth.nonQuote, 'non-quote');
    assert.equal(sum('tickrmeter_device_reboots_total'), truth.reboots, 'reboots');
    // The restarted instance continued its counters rather than starting from zero.
    assert.ok(
      scrapes[1]!.sum('tkmprom_messages_total') > beforeKill!.sum('tkmprom_messages_total'),
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
