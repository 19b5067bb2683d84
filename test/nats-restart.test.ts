import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, headers } from 'nats';
import { keyedSubject, partitionOf, SEEN_HEADER } from '../src/config/index.js';
import { requestPayload } from '../src/protocol/index.js';
import type { Truth } from '../src/sim/index.js';
import { sleep } from './helpers/exporter.js';
import { eventually } from './helpers/mosquitto.js';
import { NATS_TEST_PASSWORD } from './helpers/nats.js';
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

/**
 * nats-server killed while the exporters read at full speed: what was on its way to them when it
 * died is read again after the reconnect, and what they had read is not counted twice. The
 * messages are published straight into the stream (JetStream acknowledges each), so the stream
 * itself says what the exporters must count.
 */
describe('nats-server killed under load', () => {
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

  test('every message the stream holds is counted once by its partition', async () => {
    const devices = Array.from({ length: 50 }, (_, i) => `DDDDDDDD${String(i).padStart(4, '0')}`);
    const stored = Array.from({ length: N }, () => ({ request: 0, reply: 0 }));
    const nc = await connect({
      servers: `127.0.0.1:${fleet.nats.port}`,
      user: 'tkmprom',
      pass: NATS_TEST_PASSWORD,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
    });
    const js = nc.jetstream();
    /** Publishes until JetStream acknowledges; a retry of one stored already is stored once (its id). */
    const put = async (subject: string, data: string, id: string, seen?: number) => {
      for (;;) {
        const h = headers();
        if (seen !== undefined) h.set(SEEN_HEADER, String(seen * 1e6));
        try {
          const ack = await js.publish(subject, new TextEncoder().encode(data), {
            msgID: id,
            headers: h,
            timeout: 1000,
          });
          return !ack.duplicate;
        } catch {
          await sleep(100);
        }
      }
    };
    let restarted: Promise<void> | undefined;
    for (let i = 0; i < 3000; i++) {
      if (i === 1500) restarted = fleet.nats.restart('SIGKILL');
      const d = devices[i % devices.length]!;
      const k = partitionOf(d, N);
      if (await put(keyedSubject(k, 'STOCKPRICEUPDATE'), requestPayload(d, '"AAPL"'), `q${i}`, Date.now()))
        stored[k]!.request++;
      if (
        await put(
          `tkm.${k}.r.${d}`,
          '{"type":"UPDATE","symbol":"AAPL","price":"$1","updateInterval":120}',
          `r${i}`,
        )
      )
        stored[k]!.reply++;
    }
    await restarted;
    await nc.close();
    // A retry whose first try was stored before the kill counts once, as the stream holds it.
    let scrapes: Scrape[] = [];
    await eventually(
      async () => {
        scrapes = await Promise.all(fleet.exporters.map((e) => scrape(e.url).catch(() => undefined))).then(
          (s) => (s.every((x) => x !== undefined) ? (s as Scrape[]) : []),
        );
        return (
          scrapes.length === N &&
          scrapes.every(
            (s, k) =>
              s.get('tkmprom_messages_total', { kind: 'request' }) === stored[k]!.request &&
              s.get('tkmprom_messages_total', { kind: 'reply' }) === stored[k]!.reply,
          )
        );
      },
      30_000,
      `each exporter to count what the stream holds of its partition (${JSON.stringify(stored)})`,
    ).catch((err) => {
      const seen = scrapes.map((s) => [
        s.get('tkmprom_messages_total', { kind: 'request' }),
        s.get('tkmprom_messages_total', { kind: 'reply' }),
      ]);
      throw new Error(`${(err as Error).message}; counted ${JSON.stringify(seen)}`);
    });
    for (const s of scrapes)
      assert.ok((s.get('tkmprom_mqtt_reconnects_total') ?? 0) >= 1, 'each reconnected');
  });
});
