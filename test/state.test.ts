import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { heartbeatPayload } from '../src/protocol/index.js';
import { publish, publisher, sleep, spawnExporter } from './helpers/exporter.js';
import { eventually, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { type Scrape, scrape } from './helpers/scrape.js';

const DEVICES = 40;
const SYMBOLS = ['AAPL', 'MSFT', 'TSLA', 'BTC/USD'];
const id = (i: number) => `CCCCCCCC${String(i).padStart(4, '0')}`;

/** What a restart must not lose, read from a scrape: online devices and per-symbol gauges. */
function picture(s: Scrape) {
  return {
    online: s.sum('tickrmeter_devices_online'),
    p95: SYMBOLS.map((symbol) => s.get('tickrmeter_stock_update_p95_latency_seconds', { symbol })),
    responseRate: SYMBOLS.map((symbol) => s.get('tickrmeter_symbol_response_rate', { symbol })),
  };
}

describe('state across a kill -9 (--state-dir)', () => {
  let broker: Mosquitto;
  let pub: MqttClient;
  before(async () => {
    broker = await startMosquitto();
    pub = await publisher(broker.url);
  });
  after(async () => {
    pub.end(true);
    await broker.stop();
  });

  test('the restarted exporter shows the online devices and per-symbol gauges within 5 s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-state-'));
    const args = [
      '--mqtt-url',
      broker.url,
      '--state-dir',
      dir,
      '--state-interval',
      '1s',
      '--request-timeout',
      '1s',
      '--log-level',
      'warn',
    ];
    const first = await spawnExporter(args);
    let sent = 0;
    for (let i = 0; i < DEVICES; i++, sent++) {
      await publish(
        pub,
        'DEVICESTATUS_RES',
        heartbeatPayload({
          deviceId: id(i),
          firmwareJson: '"2.3"',
          battery: 70,
          uptimeS: 100,
          charging: false,
        }),
      );
    }
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < DEVICES; i++) {
        const symbol = SYMBOLS[i % SYMBOLS.length]!;
        await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: id(i), symbol });
        sent++;
        // One symbol in four answers only once, so a response rate below 1 must come back too.
        if (symbol !== 'BTC/USD' || round === 0) {
          await publish(pub, id(i), { type: 'UPDATE', symbol });
          sent++;
        }
      }
      await sleep(50);
    }
    // Later traffic past the deadline decides the unanswered requests as timeouts.
    await sleep(1500);
    for (let i = 0; i < DEVICES; i++, sent++)
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: id(i), symbol: 'AAPL' });
    for (let i = 0; i < DEVICES; i++, sent++) await publish(pub, id(i), { type: 'UPDATE', symbol: 'AAPL' });
    await eventually(
      async () => (await scrape(first.url)).sum('tkmprom_messages_total') === sent,
      5000,
      'the first exporter to read every message',
    );
    const saved = picture(await scrape(first.url));
    assert.equal(saved.online, DEVICES);
    assert.ok(saved.responseRate[3]! < 0.5, `response rates ${saved.responseRate}`);
    await sleep(2500); // two snapshot intervals, so the last one holds everything above
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const started = Date.now();
    const second = await spawnExporter(args);
    try {
      const restored = picture(await scrape(second.url));
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 5000, `restored within 5 s, took ${tookMs} ms`);
      assert.deepEqual(restored, saved);
      assert.equal(restored.online, DEVICES);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  });

  test('an unreadable snapshot is set aside with a coded error and the exporter starts empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-state-'));
    writeFileSync(join(dir, 'state.jsonl'), '{"this is":"no snapshot"\n');
    const ex = await spawnExporter(['--mqtt-url', broker.url, '--state-dir', dir, '--log-level', 'warn']);
    try {
      const s = await scrape(ex.url);
      assert.equal(s.sum('tickrmeter_devices_online'), 0);
      const files = readdirSync(dir);
      assert.equal(files.filter((f) => f.startsWith('state.jsonl.unusable-')).length, 1, files.join(', '));
      assert.equal(existsSync(join(dir, 'state.jsonl')), false);
      assert.match(ex.stdout() + ex.stderr(), /TKM_STATE_UNREADABLE/);
    } finally {
      assert.equal(await ex.stop(), 0);
    }
    // The clean stop wrote a fresh snapshot in its place.
    assert.equal(existsSync(join(dir, 'state.jsonl')), true);
  });
});
