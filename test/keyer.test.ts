import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { partitionOf, SEEN_HEADER } from '../src/config/index.js';
import { type RunningKeyer, startKeyer } from '../src/keyer/index.js';
import { silentLogger } from '../src/log.js';
import { bootPayload, requestPayload } from '../src/protocol/index.js';
import { publish, publisher } from './helpers/exporter.js';
import { eventually } from './helpers/mosquitto.js';
import { NATS_TEST_PASSWORD, type NatsServer, startNatsServer } from './helpers/nats.js';

const N = 3;
const deviceId = () => randomBytes(6).toString('hex').toUpperCase();

/** Every message of the stream so far: subject, payload, the keyer's stamp, the stored time. */
async function streamContents(nc: NatsConnection) {
  const jsm = await nc.jetstreamManager();
  const { state } = await jsm.streams.info('TKM');
  const out: { subject: string; data: string; seen: bigint | undefined; time: number }[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage('TKM', { seq });
    const seen = m.header?.get(SEEN_HEADER);
    out.push({
      subject: m.subject,
      data: new TextDecoder().decode(m.data),
      seen: seen ? BigInt(seen) : undefined,
      time: m.time.getTime(),
    });
  }
  return out;
}

describe('tkmprom keyer, through a real nats-server', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const keyers: RunningKeyer[] = [];
  const opts = () => ({
    nats: { url: nats.url, username: 'tkmprom' },
    partitions: N,
    stream: { name: 'TKM', maxAgeMs: 3_600_000, replicas: 1 },
    maxPayloadBytes: 16_384,
    logger: silentLogger(),
  });
  before(async () => {
    nats = await startNatsServer(N);
    nc = await connect({ servers: `127.0.0.1:${nats.port}`, user: 'tkmprom', pass: NATS_TEST_PASSWORD });
  });
  after(async () => {
    for (const k of keyers) await k.stop();
    await nc?.close();
    await nats?.destroy();
  });

  test('two keyers share the work, put each message once on its device partition, and one stopped leaves the other all of it', async () => {
    keyers.push(await startKeyer(opts()), await startKeyer(opts()));
    const devices = Array.from({ length: 40 }, deviceId);
    const fleet = await publisher(nats.mqttUrl);
    for (const d of devices) {
      await publish(fleet, 'STOCKPRICEUPDATE', requestPayload(d));
      await publish(fleet, 'TICKRMETERBOOT', bootPayload(d));
      await publish(fleet, d, '{"type":"NO_CONFIG"}');
    }
    await publish(fleet, 'STOCKPRICEUPDATE', 'not json');
    const total = () => keyers.reduce((s, k) => s + k.keyed, 0);
    await eventually(() => total() === devices.length * 2 + 1, 5000, 'the keyers to republish');
    assert.ok(
      keyers[0]!.keyed > 0 && keyers[1]!.keyed > 0,
      `shared: ${keyers[0]!.keyed} / ${keyers[1]!.keyed}`,
    );
    await keyers.shift()!.stop();
    for (const d of devices) await publish(fleet, 'STOCKPRICEUPDATE', requestPayload(d, '"AAPL"'));
    await eventually(() => keyers[0]!.keyed >= devices.length, 5000, 'the remaining keyer to take it all');
    await fleet.endAsync();

    const all = await streamContents(nc);
    // The sliced copies the keyers read, by the time nats-server received them.
    const arrivals = new Map<string, number>();
    const byDevice = new Map<string, string[]>();
    let keyedCount = 0;
    for (const m of all) {
      const parts = m.subject.split('.');
      if (parts.length > 4) {
        assert.equal(parts[2], 'r', m.subject);
        continue;
      }
      const k = Number(parts[1]);
      if (parts[2] === 'k') {
        keyedCount++;
        assert.ok(m.seen !== undefined, 'a keyed copy carries the time of the original');
        arrivals.set(m.subject + m.data, Number(m.seen! / 1_000_000n));
      }
      if (m.data === 'not json') {
        assert.equal(m.subject, `tkm.${partitionOf('STOCKPRICEUPDATE', N)}.k.STOCKPRICEUPDATE`);
        continue;
      }
      const device = parts[2] === 'r' ? parts[3]! : (JSON.parse(m.data) as { device: string }).device;
      assert.equal(partitionOf(device, N), k, `${m.subject} of ${device} in partition ${k}`);
      byDevice.set(device, [...(byDevice.get(device) ?? []), `${parts[2]}.${parts[3]}`]);
    }
    assert.equal(keyedCount, devices.length * 3 + 1, 'each keyed exactly once');
    for (const d of devices) {
      assert.deepEqual(
        byDevice.get(d)!.sort(),
        ['k.STOCKPRICEUPDATE', 'k.STOCKPRICEUPDATE', 'k.TICKRMETERBOOT', `r.${d}`].sort(),
        d,
      );
    }
    // Each keyed copy is dated by its original's arrival: the sliced copy stored at that time.
    const originals = all.filter((m) => m.subject.split('.').length > 4);
    assert.equal(originals.length, devices.length * 3 + 1);
    for (const o of originals) {
      const topic = o.subject.split('.').slice(3).join('');
      const device =
        o.data === 'not json' ? 'STOCKPRICEUPDATE' : (JSON.parse(o.data) as { device: string }).device;
      const key = `tkm.${partitionOf(device, N)}.k.${topic}${o.data}`;
      assert.ok(arrivals.has(key), key);
    }
  });
});
