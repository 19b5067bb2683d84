import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
});
