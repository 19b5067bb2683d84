import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import { addUser } from '../src/broker/index.js';
import { exporterFor, publish, publisher } from './helpers/exporter.js';
import { eventually, freePort } from './helpers/mosquitto.js';
import { scrape } from './helpers/scrape.js';

describe('run --embedded-broker', () => {
  test('the exporter reads its own broker in-process and exports the broker metrics', async () => {
    const port = await freePort();
    const running = await exporterFor('mqtt://unused:1', {
      'embedded-broker': `127.0.0.1:${port}`,
      'request-timeout': '1s',
    });
    try {
      const pub = await publisher(`mqtt://127.0.0.1:${port}`);
      const D = '142B2FEB7A10';
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: D, symbol: 'AAPL' });
      await publish(pub, D, { type: 'UPDATE', symbol: 'AAPL' });
      await publish(pub, 'STOCKPRICEUPDATE', { type: 'UPDATE', device: D, symbol: 'TSLA' });
      await publish(pub, '$SYS/ignored', 'x');
      await eventually(() => running.exporter.messages === 3, 5000, 'three messages in-process');
      await pub.endAsync();
      await eventually(
        async () =>
          (await scrape(running.url)).get('tickrmeter_stock_update_timeout_total', { symbol: 'TSLA' }) === 1,
        5000,
        'the TSLA timeout',
      );
      const s = await scrape(running.url);
      assert.equal(s.get('tickrmeter_stock_update_responses_total', { symbol: 'AAPL' }), 1);
      assert.equal(s.sum('tkmprom_messages_total'), 3);
      assert.equal(s.get('tkmprom_mqtt_connected'), 1);
      assert.equal(s.get('tkmprom_broker_messages_received_total', { qos: '0' }), 3);
      assert.equal(s.get('tkmprom_broker_clients_connected'), 0);
      assert.equal((await fetch(`${running.url}/readyz`)).status, 200);
    } finally {
      await running.stop();
    }
  });

  test('a taken broker port is an error naming --embedded-broker', async () => {
    const port = await freePort();
    const { createServer } = await import('node:net');
    const srv = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    try {
      await assert.rejects(
        exporterFor('mqtt://unused:1', { 'embedded-broker': `127.0.0.1:${port}` }),
        /--embedded-broker: .*127\.0\.0\.1:\d+ is already in use/,
      );
    } finally {
      srv.close();
    }
  });

  test('takes the broker section as tkmprom broker does: password file, WebSocket listener, data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tkmprom-embedded-'));
    const passwords = join(dir, 'passwd');
    await addUser(passwords, 'fleet', 'fleet-secret');
    const port = await freePort();
    const wsPort = await freePort();
    const flags = {
      'embedded-broker': `127.0.0.1:${port}`,
      'broker-password-file': passwords,
      'broker-ws-listen': `127.0.0.1:${wsPort}`,
      'broker-data-dir': join(dir, 'data'),
    };
    let running = await exporterFor('mqtt://unused:1', flags);
    try {
      const anonymous = await mqtt
        .connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 3000 })
        .then(
          (c) => c.endAsync().then(() => 'connected'),
          (err: Error) => err.message,
        );
      assert.match(anonymous, /Not authorized/i);
      const ws = await mqtt.connectAsync(`ws://127.0.0.1:${wsPort}`, {
        username: 'fleet',
        password: 'fleet-secret',
        reconnectPeriod: 0,
      });
      await ws.publishAsync(
        'STOCKPRICEUPDATE',
        JSON.stringify({ type: 'UPDATE', device: '142B2FEB7A10', symbol: 'AAPL' }),
      );
      await ws.publishAsync('config/interval', '30', { qos: 1, retain: true });
      await ws.endAsync();
      // The retained message is no fleet topic: the exporter reads the request alone.
      await eventually(() => running.exporter.messages === 1, 5000, 'the request over WebSocket');
      const s = await scrape(running.url);
      assert.equal(s.get('tkmprom_broker_connections_refused_total', { reason: 'not_authorized' }), 1);
    } finally {
      await running.stop();
    }
    // The data dir kept the retained message across the restart.
    running = await exporterFor('mqtt://unused:1', flags);
    try {
      const again = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        username: 'fleet',
        password: 'fleet-secret',
        reconnectPeriod: 0,
      });
      const retained = new Promise<string>((resolve) =>
        again.once('message', (_t, p) => resolve(p.toString())),
      );
      await again.subscribeAsync('config/#', { qos: 1 });
      assert.equal(await retained, '30');
      await again.endAsync();
    } finally {
      await running.stop();
    }
  });

  test('a broker setting that needs another names both, as run spells them', async () => {
    const port = await freePort();
    await assert.rejects(
      exporterFor('mqtt://unused:1', {
        'embedded-broker': `127.0.0.1:${port}`,
        'broker-ws-path': '/mqtt',
      }),
      {
        code: 'TKM_CONFIG_INVALID',
        message: '--broker-ws-path (broker.wsPath) needs --broker-ws-listen (broker.wsListen)',
      },
    );
  });
});
