import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { connectMqtt } from './connection.js';

/**
 * A broker that accepts a CONNECT and then never answers a PINGREQ: the connection lives only as
 * long as MQTT.js counts the PUBLISH frames it is sent as signs of life.
 */
async function pinglessBroker(): Promise<{
  server: Server;
  port: number;
  sockets: Socket[];
  pings: () => number;
}> {
  const sockets: Socket[] = [];
  let pings = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const type = buf[0]! >> 4;
        const len = buf[1]!; // the client's packets here are all under 128 bytes
        if (buf.length < 2 + len) break;
        if (type === 1) s.write(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNACK, accepted
        if (type === 12) pings++;
        buf = buf.subarray(2 + len);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    sockets,
    pings: () => pings,
  };
}

function publishFrame(topic: string, payload: string): Buffer {
  const t = Buffer.from(topic);
  const p = Buffer.from(payload);
  const len = 2 + t.length + p.length;
  return Buffer.concat([Buffer.from([0x30, len, t.length >> 8, t.length & 0xff]), t, p]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('connectMqtt keepalive', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  test('PUBLISH frames read in place of a PINGRESP keep the connection: none dropped in 4 keepalives', async () => {
    const broker = await pinglessBroker();
    servers.push(broker.server);
    let delivered = 0;
    const { client } = connectMqtt(
      `mqtt://127.0.0.1:${broker.port}`,
      { keepalive: 1, reconnectPeriod: 0, clientId: 'keepalive-test' },
      0,
      () => {
        delivered++;
      },
    );
    let closes = 0;
    client.on('close', () => closes++);
    client.on('error', () => {});
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const sock = broker.sockets[0]!;
    const feed = setInterval(() => sock.write(publishFrame('TEST', 'x')), 100);
    await sleep(4_000);
    clearInterval(feed);
    assert.equal(closes, 0, 'the connection stayed up');
    assert.ok(broker.pings() >= 2, `pings were sent (${broker.pings()})`);
    assert.ok(delivered >= 35 && delivered <= 40, `${delivered} messages delivered`);
    // Keepalive still works: with nothing read at all, the connection drops within 1.5 keepalives.
    const quietFrom = Date.now();
    await new Promise<void>((resolve) => client.once('close', () => resolve()));
    const quietMs = Date.now() - quietFrom;
    assert.ok(quietMs <= 2_100, `dropped ${quietMs} ms after the feed stopped`);
    await client.endAsync(true);
    for (const s of broker.sockets) s.destroy();
  });
});
