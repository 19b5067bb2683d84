import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../config/index.js';
import { Exporter } from '../exporter.js';
import { silentLogger } from '../log.js';
import { seriesValue } from '../../test/helpers/series.js';

const A = 'AAAAAAAAAA01';
const B = 'AAAAAAAAAA02';

/** An exporter on a hand-driven clock, with a link whose health the test sets. */
function setup() {
  let t = 1_000;
  let healthy = true;
  let graceMs = 60_000;
  const config = loadConfig({ flags: { 'request-timeout': '10s' } });
  const e = new Exporter({ config, logger: silentLogger(), clock: () => t, processMetrics: false });
  e.link = { healthy: () => healthy, clockGraceMs: () => graceMs };
  const send = (topic: string, p: object) => e.handle(topic, Buffer.from(JSON.stringify(p)));
  return {
    e,
    request: (device: string, symbol: string) => send('STOCKPRICEUPDATE', { type: 'UPDATE', device, symbol }),
    reply: (device: string, symbol: string) => send(device, { type: 'UPDATE', symbol }),
    heartbeat: (device: string) => send('DEVICESTATUS_RES', { device, battery: 90, uptime: 1000 }),
    advance(ms: number) {
      t += ms;
      e.sweep();
    },
    setHealthy(h: boolean) {
      healthy = h;
    },
    setGrace(ms: number) {
      graceMs = ms;
    },
    timeouts: (symbol: string) =>
      seriesValue(e.registry, 'tickrmeter_stock_update_timeout_total', symbol) ?? 0,
    interrupted: (symbol: string) =>
      seriesValue(e.registry, 'tickrmeter_stock_update_interrupted_total', symbol) ?? 0,
    pending: () => e.view.quotePath().pendingRequests,
  };
}

describe('when a request times out', () => {
  test('a healthy link: the clock decides, at the deadline, with nothing else arriving', () => {
    const x = setup();
    x.request(A, 'AAPL');
    x.advance(9_999);
    assert.equal(x.timeouts('AAPL'), 0);
    x.advance(1);
    assert.equal(x.timeouts('AAPL'), 1);
    assert.equal(x.pending(), 0);
  });

  test('a healthy fast feed that stops: the clock runs on only its expected lull past the last message', () => {
    const x = setup();
    x.setGrace(500);
    x.request(A, 'AAPL');
    for (let i = 0; i < 90; i++) {
      x.advance(100);
      x.heartbeat(B);
    }
    // Last message 9 s after the request; the clock may stand for stream time until 9.5 s.
    x.advance(20_000);
    assert.equal(x.timeouts('AAPL'), 0);
    assert.equal(x.pending(), 1);
    x.heartbeat(B); // 29 s on: stream time is past the deadline
    x.advance(0);
    assert.equal(x.timeouts('AAPL'), 1);
  });

  test('a healthy small fleet: a heartbeat a second, the timeout counted at the deadline', () => {
    const x = setup();
    x.setGrace(10_000);
    x.request(A, 'AAPL');
    for (let i = 0; i < 9; i++) {
      x.advance(1_000);
      x.heartbeat(B);
    }
    x.advance(999);
    assert.equal(x.timeouts('AAPL'), 0);
    x.advance(1);
    assert.equal(x.timeouts('AAPL'), 1);
  });

  test('a quiet link: the clock alone times nothing out; a message read past the deadline does', () => {
    const x = setup();
    x.request(A, 'AAPL');
    x.request(B, 'MSFT');
    x.advance(4_000);
    x.setHealthy(false);
    x.advance(20_000);
    assert.equal(x.timeouts('AAPL'), 0, 'no message after the deadline has been read');
    assert.equal(x.pending(), 2);
    // A message dated 24 s in shows the stream went past both deadlines without their replies.
    x.heartbeat(B);
    x.advance(0);
    assert.equal(x.timeouts('AAPL'), 1);
    assert.equal(x.timeouts('MSFT'), 1);
  });

  test('a quiet link: a message before the deadline moves stream time only that far', () => {
    const x = setup();
    x.request(A, 'AAPL');
    x.advance(5_000);
    x.setHealthy(false);
    x.heartbeat(B); // stream time 5 s after the request
    x.advance(30_000);
    assert.equal(x.timeouts('AAPL'), 0);
    x.advance(0);
    assert.equal(x.pending(), 1);
  });

  test('a declared silence interrupts what is pending and counts the silence; none becomes a timeout', () => {
    const x = setup();
    x.request(A, 'AAPL');
    x.request(B, 'MSFT');
    x.advance(3_000);
    x.setHealthy(false);
    x.e.silenced(3_000);
    assert.equal(seriesValue(x.e.registry, 'tkmprom_mqtt_silences_total'), 1);
    assert.equal(x.interrupted('AAPL'), 1);
    assert.equal(x.interrupted('MSFT'), 1);
    x.setHealthy(true);
    x.advance(60_000);
    assert.equal(x.timeouts('AAPL'), 0);
    assert.equal(x.timeouts('MSFT'), 0);
    // A reply to an interrupted request is unmatched, not late.
    x.reply(A, 'AAPL');
    assert.equal(seriesValue(x.e.registry, 'tickrmeter_stock_update_late_responses_total', 'AAPL') ?? 0, 0);
  });

  test('the last message age is exported before the first message and grows with the clock', async () => {
    const x = setup();
    x.advance(2_500);
    let text = await x.e.registry.render('text');
    assert.match(text, /^tkmprom_mqtt_last_message_age_seconds 2\.5$/m);
    x.heartbeat(A);
    x.advance(1_250);
    text = await x.e.registry.render('text');
    assert.match(text, /^tkmprom_mqtt_last_message_age_seconds 1\.25$/m);
    assert.match(text, /^tkmprom_mqtt_silences_total 0$/m);
  });
});
