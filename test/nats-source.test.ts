import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startExporter, type RunningExporter } from '../src/cli/run.js';
import { loadConfig, partitionOf } from '../src/config/index.js';
import { type RunningKeyer, startKeyer } from '../src/keyer/index.js';
import { silentLogger } from '../src/log.js';
import { requestPayload } from '../src/protocol/index.js';
import { publish, publisher } from './helpers/exporter.js';
import { eventually, freePort } from './helpers/mosquitto.js';
import { NATS_TEST_PASSWORD, type NatsServer, startNatsServer } from './helpers/nats.js';
import { scrape } from './helpers/scrape.js';

const N = 2;
const deviceId = () => randomBytes(6).toString('hex').toUpperCase();

describe('tkmprom run --nats-url --partition I/N, through a real nats-server and keyer', () => {
  let nats: NatsServer;
  let keyer: RunningKeyer;
  const exporters: RunningExporter[] = [];
  before(async () => {
    nats = await startNatsServer(N);
    keyer = await startKeyer({
      nats: { url: nats.url, username: 'tkmprom' },
      partitions: N,
      stream: { name: 'TKM', maxAgeMs: 3_600_000, replicas: 1 },
      maxPayloadBytes: 16_384,
      logger: silentLogger(),
    });
    for (let k = 0; k < N; k++) {
      const config = loadConfig({
        flags: {
          'nats-url': `nats://127.0.0.1:${nats.port}`,
          partition: `${k}/${N}`,
          listen: `127.0.0.1:${await freePort()}`,
        },
        env: { TKMPROM_NATS_PASSWORD: NATS_TEST_PASSWORD },
      });
      exporters.push(await startExporter(config, silentLogger()));
    }
  });
  after(async () => {
    for (const e of exporters) await e.stop();
    await keyer?.stop();
    await nats?.destroy();
  });

  test('each exporter pairs the requests and replies of its own devices, replies sent at once after their request included', async () => {
    const devices = Array.from({ length: 30 }, deviceId);
    const fleet = await publisher(nats.mqttUrl);
    for (const d of devices) {
      await publish(fleet, 'STOCKPRICEUPDATE', requestPayload(d, '"AAPL"'));
      // Published right behind the request: it reaches the stream before the keyed request does.
      await publish(fleet, d, '{"type":"UPDATE","symbol":"AAPL","price":"$1","updateInterval":120}');
    }
    await fleet.endAsync();
    const mine = (k: number) => devices.filter((d) => partitionOf(d, N) === k).length;
    for (let k = 0; k < N; k++) {
      const url = exporters[k]!.url;
      await eventually(
        async () =>
          (await scrape(url)).get('tickrmeter_stock_update_responses_total', { symbol: 'AAPL' }) === mine(k),
        10_000,
        `exporter ${k}'s responses`,
      );
      const s = await scrape(url);
      assert.equal(s.get('tickrmeter_stock_update_requests_total', { symbol: 'AAPL' }), mine(k));
      assert.equal(s.sum('tickrmeter_stock_update_unmatched_responses_total'), 0);
      assert.equal(s.get('tkmprom_messages_total', { kind: 'request' }), mine(k));
      assert.equal(s.get('tkmprom_messages_total', { kind: 'reply' }), mine(k));
    }
    assert.equal(mine(0) + mine(1), devices.length);
    assert.ok(mine(0) > 0 && mine(1) > 0);
  });
});
