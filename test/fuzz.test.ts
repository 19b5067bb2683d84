import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { mulberry32 } from '../src/sim/index.js';
import { type ExporterProcess, publisher, spawnExporter } from './helpers/exporter.js';
import { eventually, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';

const REAL: [string, string][] = [
  ['STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10","symbol":"AAPL"}'],
  ['STOCKPRICEUPDATE', '{"type":"UPDATE","device":"142B2FEB7A10"}'],
  [
    '142B2FEB7A10',
    '{"type":"UPDATE","symbol":"AAPL","price":"$185.23","p":185.23,"isPlaylist":true,"updateInterval":120}',
  ],
  [
    '142B2FEB7A10',
    '{"mode":"page","page":[{"id":1,"ledColor":"green","rev":3}],"updateInterval":"300","ttl":3091}',
  ],
  ['142B2FEB7A10', '{"type":"STOCK_ERROR","message":"polygon"}'],
  [
    'DEVICESTATUS_RES',
    '{"status":"online","firmware_version":"45p","device":"EC6260314DD0","battery":"78","vin":"2750","uptime":"3600","isCharging":"0","wflct":"2","iv":"elec+HB","xmc":"0","flashID":"C84017"}',
  ],
  ['TICKRMETERBOOT', '{"type":"BOOT","device":"4022D8E2FB0C"}'],
  ['DEVICE_BOOTED', '{"type":"BOOT","device":"4022D8E2FB0C"}'],
  [
    'HTTPSTREAMSTOCKS',
    '{"device":"4022D8E2FB0C","params":{"getQuoteParams":{"stream":"commodities-api","symbol":"XAU"},"configObject":{},"userTimeParams":{}}}',
  ],
  ['DEVICESTATUS', '{"action":"status"}'],
  ['LOG/4022D8E2FB0C', 'Connecting to markets'],
  ['ALERT/4022D8E2FB0C', '{"type":"DISABLE"}'],
  ['FIRMWAREUPDATE/4022D8E2FB0C', '{"version":"70p","url":"x"}'],
];
const HEX = '0123456789ABCDEF';
const TOTAL = 100_000;

describe('bad input', () => {
  let broker: Mosquitto;
  let running: ExporterProcess;
  let pub: MqttClient;

  before(async () => {
    broker = await startMosquitto();
    running = await spawnExporter([
      '--mqtt-url',
      broker.url,
      '--request-timeout',
      '1s',
      '--max-devices',
      '5000',
      '--max-symbols',
      '300',
    ]);
    pub = await publisher(broker.url);
  });

  after(async () => {
    await pub.endAsync();
    await running.stop();
    await broker.stop();
  });

  test('100,000 random and mutated messages on every topic: counted, bounded, never a crash', async () => {
    const rand = mulberry32(20261124); // seeded, so a failure can be replayed
    const int = (n: number) => Math.floor(rand() * n);
    const deviceId = () => Array.from({ length: 12 }, () => HEX[int(16)]).join('');
    const rssBefore = (await scrape(running.url)).get('process_resident_memory_bytes')!;
    for (let i = 0; i < TOTAL; i++) {
      const [realTopic, realPayload] = REAL[int(REAL.length)]!;
      let topic = realTopic;
      const t = int(10);
      if (t === 0) topic = deviceId();
      else if (t === 1) topic = `X${int(1e6)}`;
      else if (t === 2) topic = `LOG/${deviceId()}`;
      let payload: Buffer;
      const p = int(8);
      if (p === 0) {
        payload = Buffer.alloc(int(2000));
        for (let j = 0; j < payload.length; j++) payload[j] = int(256);
      } else if (p === 1) {
        payload = Buffer.from(realPayload.slice(0, int(realPayload.length)));
      } else if (p === 2) {
        payload = Buffer.from(realPayload);
        for (let k = 0; k < 3; k++) payload[int(payload.length)] = int(256);
      } else if (p === 3) {
        payload = Buffer.alloc(20_000 + int(10_000), 0x7b);
      } else if (p === 4) {
        payload = Buffer.from(
          realPayload.replace(/"[0-9A-F]{12}"/, `"${deviceId()}"`).replace(/"AAPL"|"XAU"/, `"S${int(5000)}"`),
        );
      } else if (p === 5) {
        payload = Buffer.from(
          realPayload.replace(/"[^"]*"(,|})/, `${['1', 'null', '[]', '{}', 'true', '"x"'][int(6)]}$1`),
        );
      } else {
        payload = Buffer.from(realPayload);
      }
      pub.publish(topic, payload, { qos: 0 });
      if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    await eventually(
      async () => (await scrape(running.url)).sum('tkmprom_messages_total') >= TOTAL,
      60_000,
      'every message to arrive',
    );
    const s = await scrape(running.url);
    assert.equal(s.sum('tkmprom_messages_total'), TOTAL, 'every message is counted as invalid or as a kind');
    assert.ok((s.get('tkmprom_messages_total', { kind: 'invalid' }) ?? 0) > 10_000);
    assert.equal(
      s.get('tkmprom_messages_total', { kind: 'invalid' }),
      s.sum('tkmprom_messages_invalid_total'),
    );
    assert.ok((s.get('tkmprom_messages_invalid_total', { reason: 'oversize' }) ?? 0) > 1000);
    assert.ok(s.get('tkmprom_tracked_devices')! <= 5000, 'devices bounded');
    assert.ok((s.get('tkmprom_evictions_total', { what: 'device' }) ?? 0) > 0, 'a flood of ids evicts');
    assert.equal(s.get('tkmprom_tracked_symbols'), 303, 'symbols bounded: 300 and the three reserved');
    assert.ok(
      (s.get('tkmprom_symbol_overflow_total') ?? 0) > 0,
      'symbols beyond the limit overflow to _other',
    );
    const grown = s.get('process_resident_memory_bytes')! - rssBefore;
    assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MB`);
    assert.equal((await fetch(`${running.url}/healthz`)).status, 200);
    assert.equal(running.child.exitCode, null, 'still running');
    assert.equal(await running.stop(), 0, 'stops cleanly');
  });
});
