import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Truth } from '../src/sim/index.js';
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
 * nats-server killed (SIGKILL) and started again on its store, between two runs of the simulated
 * fleet (the fleet cannot publish through a server that is down without the simulator's truth
 * losing its meaning), while one exporter is down with a backlog in the file-backed stream and
 * the other is connected and must reconnect. The counters summed over both equal the two truths.
 */
const N = 2;
const DEVICES = 120;
const TIMEOUT = '4s';

describe('nats-server restarted: the file-backed stream keeps what the exporters have yet to read', () => {
  let fleet: NatsFleet;
  before(async () => {
    fleet = await startNatsFleet(N, [
      '--state-interval',
      '1s',
      '--request-timeout',
      TIMEOUT,
      '--log-level',
      'warn',
    ]);
  });
  after(async () => {
    await fleet?.destroy();
  });

  test('the counters summed over the instances equal the truths of the runs before and after the restart', async () => {
    const scenario = writeScenario(
      fleet,
      'faults:\n  - { symbol: TSLA, latency: 2500ms }\n  - { stream: coingecko, drop: 1.0 }\n',
    );
    const run = (seed: number, during?: () => Promise<void>): Promise<Truth> =>
      fleet.simulate(
        [
          '--devices',
          String(DEVICES),
          '--speed',
          '40',
          '--seed',
          String(seed),
          '--duration',
          '8s',
          '--request-timeout',
          TIMEOUT,
          '--scenario',
          scenario,
        ],
        during,
      );
    const first = await run(21, async () => {
      await sleep(4000);
      fleet.exporters[1]!.child.kill('SIGKILL');
      await exited(fleet.exporters[1]!.child);
    });
    await fleet.nats.restart('SIGKILL');
    // Exporter 0 reconnects by itself; exporter 1 starts on its snapshot and replays what the
    // stream kept across the restart.
    await eventually(
      async () => (await fetch(`${fleet.exporters[0]!.url}/readyz`)).status === 200,
      10_000,
      'exporter 0 to reconnect',
    );
    await fleet.restart(1);
    const second = await run(22);

    let scrapes: Scrape[] = [];
    await eventually(
      async () => {
        scrapes = await Promise.all(fleet.exporters.map((e) => scrape(e.url)));
        const messages = scrapes.reduce((n, s) => n + s.sum('tkmprom_messages_total'), 0);
        const pending = scrapes.reduce((n, s) => n + s.sum('tkmprom_pending_requests'), 0);
        return messages === first.messages + second.messages && pending === 0;
      },
      20_000,
      'every message of both runs to be counted once and nothing to be left pending',
    );
    const sum = (name: string) => scrapes.reduce((n, s) => n + s.sum(name), 0);
    assert.equal(sum('tkmprom_messages_total'), first.messages + second.messages, 'messages');
    assert.deepEqual(bySymbol(scrapes), truthBySymbol(first, second), 'per-symbol counts equal the truths');
    assert.equal(sum('tickrmeter_stock_update_interrupted_total'), 0, 'nothing interrupted');
    assert.equal(
      sum('tickrmeter_stock_update_unmatched_responses_total'),
      first.unmatched + second.unmatched,
    );
    assert.equal(scrapes[0]!.get('tkmprom_mqtt_reconnects_total'), 1, 'exporter 0 reconnected once');
  });
});
