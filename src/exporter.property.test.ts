import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from './config/index.js';
import { Exporter } from './exporter.js';
import { silentLogger } from './log.js';
import { heartbeatPayload } from './protocol/index.js';

/*
 * Random and mutated messages through the whole of `handle` (decoder, fleet, correlator, stats)
 * and a scrape: none may throw, and every message is counted exactly once under some kind.
 * TKMPROM_FUZZ_MESSAGES sets the number of messages (the chaos suite runs 1,000,000).
 */
const RUNS = Number(process.env.TKMPROM_FUZZ_MESSAGES ?? 20_000);
const D = '142B2FEB7A10';

const REAL: [string, string][] = [
  ['STOCKPRICEUPDATE', `{"type":"UPDATE","device":"${D}","symbol":"AAPL"}`],
  ['STOCKPRICEUPDATE', `{"type":"UPDATE","device":"${D}"}`],
  [
    D,
    '{"type":"UPDATE","symbol":"AAPL","price":"$185.23","p":185.23,"isPlaylist":true,"updateInterval":120}',
  ],
  [D, '{"mode":"page","page":[{"id":1,"ledColor":"green","rev":3}],"updateInterval":"300","ttl":3091}'],
  [D, '{"type":"STOCK_ERROR","message":"polygon"}'],
  [
    'DEVICESTATUS_RES',
    heartbeatPayload({
      deviceId: D,
      firmwareJson: '"45p"',
      battery: 78,
      uptimeS: 3600,
      charging: false,
      vin: 2750,
      wifiLost: 2,
      innerVersion: 'elec+HB',
      flashCheck: 0,
      flashId: 'C84017',
    }),
  ],
  ['TICKRMETERBOOT', `{"type":"BOOT","device":"${D}"}`],
  ['DEVICE_BOOTED', `{"type":"BOOT","device":"${D}"}`],
  [
    'HTTPSTREAMSTOCKS',
    `{"device":"${D}","params":{"getQuoteParams":{"stream":"commodities-api","symbol":"XAU"},"configObject":{},"userTimeParams":{}}}`,
  ],
  ['DEVICESTATUS', '{"action":"status"}'],
  [`LOG/${D}`, 'Connecting to markets'],
  [`ALERT/${D}`, '{"type":"DISABLE"}'],
  [`FIRMWAREUPDATE/${D}`, '{"version":"70p","url":"x"}'],
];

const topic = fc.oneof(
  fc.constantFrom(...REAL.map(([t]) => t), 'AABBCCDDEEF0', 'aabbccddeeff', '', '/', 'LOG/', '#'),
  fc.string({ maxLength: 20 }),
);

/** A real payload with a slice cut out, a byte changed, or a piece of another pasted in. */
const mutated = fc
  .tuple(
    fc.constantFrom(...REAL.map(([, p]) => p)),
    fc.nat(),
    fc.nat(),
    fc.integer({ min: 0, max: 255 }),
    fc.nat(3),
  )
  .map(([p, a, b, byte, how]) => {
    const buf = Buffer.from(p);
    const i = a % (buf.length + 1);
    const j = i + (b % (buf.length - i + 1));
    if (how === 0) return Buffer.concat([buf.subarray(0, i), buf.subarray(j)]);
    if (how === 1 && i < buf.length) buf[i] = byte;
    if (how === 2)
      return Buffer.concat([buf.subarray(0, i), Buffer.from(REAL[b % REAL.length]![1]), buf.subarray(i)]);
    return buf;
  });

const payload = fc.oneof(
  mutated,
  fc.json().map((j) => Buffer.from(j)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constantFrom(...REAL.map(([, p]) => Buffer.from(p))),
);

test(`${RUNS.toLocaleString('en')} random and mutated messages: no throw, each counted once`, () => {
  let t = 1_000;
  const config = loadConfig({
    flags: { 'request-timeout': '2s', 'max-devices': '2000', 'max-symbols': '200' },
  });
  const e = new Exporter({ config, logger: silentLogger(), clock: () => t, processMetrics: false });
  let sent = 0;
  fc.assert(
    fc.property(topic, payload, fc.nat(3000), (tp, p, dt) => {
      t += dt;
      e.handle(tp, p);
      sent++;
      if (sent % 5000 === 0) e.sweep();
    }),
    { numRuns: RUNS, seed: 20_261_204 },
  );
  e.sweep();
  const text = e.registry.render('text');
  let counted = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('tkmprom_messages_total{')) counted += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  assert.equal(counted, sent);
  assert.equal(e.messages, sent);
  e.stop();
});
