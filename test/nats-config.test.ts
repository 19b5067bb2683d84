import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { natsConfigText } from '../src/cli/nats-config.js';
import { partitionOf } from '../src/config/index.js';
import { publish, publisher, sleep } from './helpers/exporter.js';
import { eventually } from './helpers/mosquitto.js';
import { type NatsServer, startNatsServer } from './helpers/nats.js';

const PARTITIONS = 3;

function deviceId(): string {
  return randomBytes(6).toString('hex').toUpperCase();
}

describe('tkmprom nats-config, through a real nats-server', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer(PARTITIONS);
    nc = await connect({ servers: `127.0.0.1:${nats.port}`, user: 'tkmprom', pass: 'test-secret' });
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  test('the command prints the configuration the tests run nats-server with', () => {
    const text = natsConfigText(
      [
        '--partitions',
        '3',
        '--listen',
        '127.0.0.1:4333',
        '--mqtt-listen',
        '127.0.0.1:1999',
        '--store-dir',
        '/x',
      ],
      { TKMPROM_NATS_PASSWORD: 'p1' },
    );
    assert.ok(text !== 'help');
    assert.match(text, /^listen: "127\.0\.0\.1:4333"$/m);
    assert.match(text, /^ {2}listen: "127\.0\.0\.1:1999"$/m);
    assert.match(text, /store_dir: "\/x"/);
    assert.match(text, /user: "tkmprom", password: "p1"/);
    assert.match(text, /to: "tkm\.\{\{partition\(3,1\)\}\}\.r\.\{\{SliceFromLeft\(1,12\)\}\}"/);
    assert.throws(() => natsConfigText(['--partitions', '0'], {}), /--partitions: expected a whole number/);
    assert.throws(() => natsConfigText([], {}), /--partitions: missing/);
    assert.throws(
      () => natsConfigText(['--partitions', '2', '--listen', 'x'], {}),
      /--listen: expected HOST:PORT/,
    );
  });

  test('MQTT topics arrive on their partition subjects, and devices still get their replies', async () => {
    const seen: string[] = [];
    const sub = nc.subscribe('tkm.>', {
      callback: (_err, m) => {
        seen.push(`${m.subject} ${new TextDecoder().decode(m.data)}`);
      },
    });
    await nc.flush();
    const devices = Array.from({ length: 60 }, deviceId);
    // A device subscribed to its own topic, as the fleet is: the mapping must not take it away.
    const device = await publisher(nats.mqttUrl);
    const own: string[] = [];
    device.on('message', (t, p) => own.push(`${t} ${p.toString()}`));
    await device.subscribeAsync(devices[0]!, { qos: 0 });
    const backend = await publisher(nats.mqttUrl);
    for (const d of devices) await publish(backend, d, `reply-${d}`);
    await publish(backend, 'STOCKPRICEUPDATE', 'request');
    await publish(backend, 'DEVICESTATUS', 'poll');
    await publish(backend, `LOG/${devices[1]}`, 'log line');
    await publish(backend, `FIRMWAREUPDATE/${devices[2]}`, 'fw');
    await eventually(() => seen.length >= devices.length + 4, 5000, 'every message on NATS');
    await sleep(200);
    const expected = [
      ...devices.map((d) => `tkm.${partitionOf(d, PARTITIONS)}.r.${d} reply-${d}`),
      `tkm.${partitionOf('STOCKPRICEUPDATE', PARTITIONS)}.r.STOCKPRICEUP.DATE request`,
      `tkm.${partitionOf('DEVICESTATUS', PARTITIONS)}.r.DEVICESTATUS poll`,
      `tkm.${partitionOf(devices[1]!, PARTITIONS)}.LOG.${devices[1]} log line`,
      `tkm.${partitionOf(devices[2]!, PARTITIONS)}.FIRMWAREUPDATE.${devices[2]} fw`,
    ];
    assert.deepEqual([...seen].sort(), expected.sort());
    // Every partition got some of the 60 devices: the hash spreads them.
    for (let k = 0; k < PARTITIONS; k++) assert.ok(seen.some((s) => s.startsWith(`tkm.${k}.r.`)));
    await eventually(() => own.length === 1, 5000, 'the device to get its reply');
    assert.deepEqual(own, [`${devices[0]} reply-${devices[0]}`]);
    sub.unsubscribe();
    await device.endAsync();
    await backend.endAsync();
  });

  test("partitionOf agrees with nats-server's partition() on 2,000 device ids", async () => {
    const got = new Map<string, string>();
    const sub = nc.subscribe('tkm.*.r.*', {
      callback: (_err, m) => {
        const [, k, , id] = m.subject.split('.');
        got.set(id!, k!);
      },
    });
    await nc.flush();
    const backend = await publisher(nats.mqttUrl);
    const ids = Array.from({ length: 2000 }, deviceId);
    for (const id of ids) backend.publish(id, 'x', { qos: 0 });
    await eventually(() => got.size === ids.length, 10_000, 'every id on NATS');
    for (const id of ids) assert.equal(Number(got.get(id)), partitionOf(id, PARTITIONS), id);
    sub.unsubscribe();
    await backend.endAsync();
  });
});
