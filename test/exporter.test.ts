import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { RunningExporter } from '../src/cli/run.js';
import { exporterFor, publish, publisher, sleep } from './helpers/exporter.js';
import { eventually, type Mosquitto, startMosquitto } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';
import { seriesValue } from './helpers/series.js';

const A = 'AAAAAAAAAA01'; // single ticker
const P = 'AAAAAAAAAA02'; // playlist
const G = 'AAAAAAAAAA03'; // page mode
const N = 'AAAAAAAAAA04'; // not configured
const B = 'AAAAAAAAAA05'; // boots

describe('exporter against a real Mosquitto', () => {
  let broker: Mosquitto;
  let running: RunningExporter;
  let pub: MqttClient;

  before(async () => {
    broker = await startMosquitto();
    running = await exporterFor(broker.url, { 'request-timeout': '1s' });
    pub = await publisher(broker.url);
  });

  after(async () => {
    await pub.endAsync();
    await running.stop();
    await broker.stop();
  });

  test('scripted fleet traffic gives exact metrics', async () => {
    let sent = 0;
    const send = async (topic: string, payload: string | object) => {
      sent++;
      await publish(pub, topic, payload);
    };
    // Heartbeats: one full, one from older firmware with fields missing.
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '45p',
      device: A,
      battery: '78',
      vin: '2750',
      uptime: '3600',
      isCharging: '1',
      wflct: '2',
      iv: 'elec+HB',
      xmc: '0',
      flashID: 'C84017',
    });
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '1.81',
      device: P,
      battery: '5',
      uptime: '100',
    });
    // Single ticker: symbol-less request answered with its symbol.
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: A });
    await send(A, { type: 'UPDATE', symbol: 'AAPL', price: '$185.23', p: 185.23, interval: 120 });
    // Playlist cycle: NEW goes to the symbol-less request, UPDATEs to their symbols.
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P, symbol: 'NTCT' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P, symbol: 'BITF' });
    await send(P, { type: 'NEW', symbol: 'BITF', isPlaylist: true, updateInterval: 120 });
    await send(P, { type: 'UPDATE', symbol: 'NTCT', isPlaylist: true, updateInterval: 120 });
    await send(P, { type: 'UPDATE', symbol: 'BITF', isPlaylist: true, updateInterval: 120 });
    // A timeout, a late reply, an error, an unmatched reply.
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: P, symbol: 'TSLA' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: A, symbol: 'MSFT' });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: A, symbol: 'XYZ' });
    await send(A, { type: 'STOCK_ERROR', message: 'polygon: not found', symbol: 'XYZ' });
    await send(A, { type: 'UPDATE', symbol: 'GOOG' });
    // Page mode and an unconfigured device.
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: G });
    await send(G, {
      mode: 'page',
      page: [{ id: 1, ledColor: 'green', rev: 3, blink: false, alert: false }],
      updateInterval: '300',
      ttl: 3091,
    });
    await send('STOCKPRICEUPDATE', { type: 'UPDATE', device: N });
    await send(N, { type: 'NO_CONFIG' });
    // Boot flow with a re-sent boot message, and a reboot the uptime also reveals.
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '70p',
      device: B,
      battery: '50',
      uptime: '5000',
      isCharging: '0',
    });
    await send('TICKRMETERBOOT', { type: 'BOOT', device: B });
    await send('DEVICE_BOOTED', { type: 'BOOT', device: B });
    await send('TICKRMETERBOOT', { type: 'BOOT', device: B });
    await send(B, { type: 'NEW', symbol: 'NVDA', interval: 300 });
    await send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '70p',
      device: B,
      battery: '50',
      uptime: '1',
      isCharging: '0',
    });
    // What the exporter only counts.
    await send(`LOG/${B}`, 'Connecting to markets...');
    await send(`ALERT/${B}`, { type: 'DISABLE' });
    await send(`FIRMWAREUPDATE/${B}`, { version: '70p', url: 'http://example.invalid/fw.bin' });
    await send('DEVICESTATUS', { action: 'status' });
    await send('SOMETHING_ELSE', 'hello');
    await send('STOCKPRICEUPDATE', '{not json');
    await send(A, '\u0000garbage');
    await sleep(1300);
    await send(A, { type: 'UPDATE', symbol: 'MSFT' }); // 1.3 s after its request: late
    await sleep(200);

    const s = await scrape(running.url);
    const sym = (name: string, symbol: string) => s.get(name, { symbol });
    assert.equal(s.sum('tkmprom_messages_total'), sent, 'every message counted once');
    assert.deepEqual(Object.fromEntries(s.series('tkmprom_messages_total')), {
      '{kind="request"}': 9,
      '{kind="reply"}': 10,
      '{kind="heartbeat"}': 4,
      '{kind="boot"}': 2,
      '{kind="device_booted"}': 1,
      '{kind="http_stream_request"}': 0,
      '{kind="status_poll"}': 1,
      '{kind="log"}': 1,
      '{kind="alert"}': 1,
      '{kind="firmware_update"}': 1,
      '{kind="unknown_topic"}': 1,
      '{kind="invalid"}': 2,
    });
    assert.equal(s.get('tkmprom_messages_invalid_total', { reason: 'bad_json' }), 2);

    const requests = Object.fromEntries(s.series('tickrmeter_stock_update_requests_total'));
    assert.deepEqual(Object.fromEntries(Object.entries(requests).filter(([, v]) => v > 0)), {
      '{symbol="AAPL"}': 1,
      '{symbol="BITF"}': 2,
      '{symbol="NTCT"}': 1,
      '{symbol="TSLA"}': 1,
      '{symbol="MSFT"}': 1,
      '{symbol="XYZ"}': 1,
      '{symbol="_page"}': 1,
      '{symbol="unknown"}': 1,
    });
    assert.equal(sym('tickrmeter_stock_update_responses_total', 'AAPL'), 1);
    assert.equal(sym('tickrmeter_stock_update_responses_total', 'BITF'), 2);
    assert.equal(sym('tickrmeter_stock_update_responses_total', 'NTCT'), 1);
    assert.equal(sym('tickrmeter_stock_update_responses_total', '_page'), 1);
    assert.equal(s.sum('tickrmeter_stock_update_responses_total'), 5);
    assert.equal(sym('tickrmeter_stock_update_timeout_total', 'TSLA'), 1);
    assert.equal(sym('tickrmeter_stock_update_timeout_total', 'MSFT'), 1);
    assert.equal(s.sum('tickrmeter_stock_update_timeout_total'), 2);
    assert.equal(sym('tickrmeter_stock_update_late_responses_total', 'MSFT'), 1);
    assert.equal(s.sum('tickrmeter_stock_update_late_responses_total'), 1);
    assert.equal(s.get('tickrmeter_stock_update_errors_total', { symbol: 'XYZ', type: 'STOCK_ERROR' }), 1);
    assert.equal(s.sum('tickrmeter_stock_update_errors_total'), 1);
    assert.equal(s.get('tickrmeter_stock_update_unmatched_responses_total', { type: 'UPDATE' }), 1);
    assert.equal(s.sum('tickrmeter_stock_update_unmatched_responses_total'), 1);
    assert.equal(s.get('tickrmeter_stock_update_non_quote_responses_total', { type: 'NO_CONFIG' }), 1);
    assert.equal(s.get('tickrmeter_stock_update_latency_seconds_count', { symbol: 'BITF' }), 2);
    assert.equal(s.get('tickrmeter_symbol_response_rate', { symbol: 'AAPL' }), 1);
    assert.equal(s.get('tickrmeter_symbol_response_rate', { symbol: 'TSLA' }), 0);
    assert.equal(
      s.get('tickrmeter_stock_update_p95_latency_seconds', { symbol: 'TSLA' }),
      undefined,
      'no latency without a response',
    );

    assert.equal(s.get('tickrmeter_device_boot_to_config_seconds_count'), 1);
    assert.equal(
      s.get('tickrmeter_backend_hop_latency_seconds_count', { stage: 'boot_to_device_booted' }),
      1,
    );
    assert.equal(
      s.get('tickrmeter_device_reboots_total', { firmware_version: '70p' }),
      1,
      'boot message and uptime drop are one reboot',
    );
    assert.equal(s.sum('tickrmeter_device_reboots_total'), 1);

    assert.equal(
      s.get('tickrmeter_devices_online', { firmware_version: '45p', iv: 'elec+HB', flash_id: 'C84017' }),
      1,
    );
    assert.equal(
      s.get('tickrmeter_devices_online', { firmware_version: '1.81', iv: 'unknown', flash_id: 'unknown' }),
      1,
    );
    assert.equal(
      s.get('tickrmeter_devices_online', { firmware_version: '70p', iv: 'unknown', flash_id: 'unknown' }),
      1,
    );
    assert.equal(
      s.get('tickrmeter_devices_online', { firmware_version: 'unknown', iv: 'unknown', flash_id: 'unknown' }),
      2,
    );
    assert.equal(s.sum('tickrmeter_devices_online'), 5);
    assert.equal(s.get('tickrmeter_devices_by_charging_state', { charging_state: 'charging' }), 1);
    assert.equal(s.get('tickrmeter_devices_by_charging_state', { charging_state: 'not_charging' }), 1);
    assert.equal(s.get('tickrmeter_devices_by_charging_state', { charging_state: 'unknown' }), 3);
    assert.equal(s.get('tickrmeter_devices_by_battery_level', { level: '70-79' }), 1);
    assert.equal(s.get('tickrmeter_devices_by_battery_level', { level: '0-9' }), 1);
    assert.equal(s.get('tickrmeter_devices_by_battery_level', { level: '50-59' }), 1);
    assert.equal(s.get('tickrmeter_devices_by_battery_level', { level: 'unknown' }), 2);
    assert.equal(s.get('tkmprom_pending_requests'), 0);
    assert.equal(s.get('tkmprom_mqtt_connected'), 1);
    assert.equal(s.get('tkmprom_tracked_devices'), 5);
    assert.equal(
      [...s.samples.keys()].some((k) => k.includes('device_id=')),
      false,
      'no per-device series unless opted in',
    );

    // promtool finds nothing wrong in a scrape that holds every kind of series.
    const check = spawnSync('promtool', ['check', 'metrics'], { input: s.text, encoding: 'utf8' });
    assert.equal(check.error, undefined, 'promtool must be installed (scripts/test.sh installs it)');
    assert.equal(`${check.stdout}${check.stderr}`, '');
    assert.equal(check.status, 0);
  });

  test('OpenMetrics when the scraper asks for it, text otherwise', async () => {
    const om = await fetch(`${running.url}/metrics`, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3' },
    });
    assert.match(om.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
    const body = await om.text();
    assert.ok(body.endsWith('# EOF\n'));
    assert.match(body, /^# TYPE tkmprom_messages counter$/m);
    const text = await fetch(`${running.url}/metrics`);
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  });

  test('health and readiness', async () => {
    assert.equal((await fetch(`${running.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${running.url}/readyz`)).status, 200);
    assert.equal((await fetch(`${running.url}/nothing-here`)).status, 404);
  });
});

describe('broker restarts', () => {
  test('pending requests become interrupted, not timeouts, and the exporter resubscribes', async () => {
    const broker = await startMosquitto();
    const running = await exporterFor(broker.url, { 'request-timeout': '1s' });
    try {
      let pub = await publisher(broker.url);
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: A, symbol: 'AAPL' });
      await eventually(
        () => running.exporter.view.quotePath().pendingRequests === 1,
        3000,
        'the request to arrive',
      );
      await pub.endAsync(true);
      await broker.stop();
      await eventually(
        () => seriesValue(running.exporter.registry, 'tkmprom_mqtt_connected') === 0,
        3000,
        'the exporter to see the drop',
      );
      assert.equal((await fetch(`${running.url}/readyz`)).status, 503);
      await sleep(1200);
      await broker.restart();
      await eventually(
        () => seriesValue(running.exporter.registry, 'tkmprom_mqtt_connected') === 1,
        5000,
        'the exporter to resubscribe',
      );
      assert.equal((await fetch(`${running.url}/readyz`)).status, 200);
      pub = await publisher(broker.url);
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: A, symbol: 'AAPL' });
      await publish(pub, A, { type: 'UPDATE', symbol: 'AAPL' });
      await eventually(() => running.exporter.messages === 3, 3000, 'the traffic after the restart');
      await pub.endAsync();
      const s = await scrape(running.url);
      assert.equal(s.get('tickrmeter_stock_update_interrupted_total', { symbol: 'AAPL' }), 1);
      assert.equal(s.get('tickrmeter_stock_update_timeout_total', { symbol: 'AAPL' }), 0);
      assert.equal(s.get('tickrmeter_stock_update_requests_total', { symbol: 'AAPL' }), 2);
      assert.equal(s.get('tickrmeter_stock_update_responses_total', { symbol: 'AAPL' }), 1);
      assert.equal(s.get('tkmprom_mqtt_reconnects_total'), 1);
      assert.equal(s.get('tkmprom_mqtt_connected'), 1);
    } finally {
      await running.stop();
      await broker.stop();
    }
  });
});
