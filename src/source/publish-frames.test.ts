import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { PublishFrames } from './publish-frames.js';

type Packet = Parameters<typeof mqttPacket.generate>[0];

const v4 = { protocolVersion: 4 as const };
const v5 = { protocolVersion: 5 as const };
const frame = (p: Packet, opts: { protocolVersion: 4 | 5 } = v4): Buffer => mqttPacket.generate(p, opts);
const publish = (topic: string, payload: string, extra: Partial<Packet> = {}): Packet =>
  ({
    cmd: 'publish',
    topic,
    payload: Buffer.from(payload),
    qos: 0,
    dup: false,
    retain: false,
    ...extra,
  }) as Packet;

interface Seen {
  published: Array<[string, string]>;
  passed: Buffer;
  frames: PublishFrames;
}

function splitter(protocolVersion = 4): Seen {
  const seen: Seen = { published: [], passed: Buffer.alloc(0), frames: undefined as never };
  seen.frames = new PublishFrames(
    protocolVersion,
    (topic, payload) => seen.published.push([topic, payload.toString()]),
    (bytes) => {
      seen.passed = Buffer.concat([seen.passed, bytes]);
    },
  );
  return seen;
}

/** What MQTT.js's own parser makes of the bytes passed on: the packets it is left to handle. */
function parsed(bytes: Buffer, protocolVersion = 4): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const out: Packet[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (e: Error) => out.push({ cmd: 'error', message: e.message } as never));
  parser.parse(bytes);
  return out;
}

const connack = frame({ cmd: 'connack', returnCode: 0, sessionPresent: false } as Packet);
const suback = frame({ cmd: 'suback', messageId: 1, granted: [0, 0] } as Packet);
const pingresp = frame({ cmd: 'pingresp' } as Packet);

test('QoS 0 PUBLISH frames are delivered with their topic and payload; nothing else reaches MQTT.js', () => {
  const s = splitter();
  s.frames.write(
    Buffer.concat([
      frame(publish('STOCKPRICEUPDATE', '{"id":"A1B2C3D4E5F6"}')),
      frame(publish('A1B2C3D4E5F6', '{"price":1}')),
    ]),
  );
  assert.deepEqual(s.published, [
    ['STOCKPRICEUPDATE', '{"id":"A1B2C3D4E5F6"}'],
    ['A1B2C3D4E5F6', '{"price":1}'],
  ]);
  assert.equal(s.passed.length, 0);
  assert.equal(s.frames.delivered, 2);
});

test('control packets between publishes are passed on whole and in order', () => {
  const s = splitter();
  s.frames.write(Buffer.concat([connack, suback, frame(publish('LOG/A1B2C3D4E5F6', 'hello')), pingresp]));
  assert.deepEqual(s.published, [['LOG/A1B2C3D4E5F6', 'hello']]);
  assert.deepEqual(
    parsed(s.passed).map((p) => p.cmd),
    ['connack', 'suback', 'pingresp'],
  );
});

test('every split of a stream into two reads gives the same messages as one read', () => {
  const stream = Buffer.concat([
    connack,
    frame(publish('STOCKPRICEUPDATE', 'x'.repeat(200))),
    frame(publish('A1B2C3D4E5F6', 'é€ payload')),
    suback,
    frame(publish('DEVICESTATUS_RES', '')),
    pingresp,
  ]);
  const whole = splitter();
  whole.frames.write(stream);
  assert.equal(whole.published.length, 3);
  for (let cut = 0; cut <= stream.length; cut++) {
    const s = splitter();
    s.frames.write(stream.subarray(0, cut));
    s.frames.write(stream.subarray(cut));
    assert.deepEqual(s.published, whole.published, `cut at ${cut}`);
    assert.deepEqual(s.passed, whole.passed, `cut at ${cut}`);
  }
});

test('a stream read one byte at a time still gives every message once', () => {
  const stream = Buffer.concat([
    frame(publish('STOCKPRICEUPDATE', 'a'.repeat(300))),
    connack,
    frame(publish('A1B2C3D4E5F6', 'b')),
  ]);
  const s = splitter();
  for (let i = 0; i < stream.length; i++) s.frames.write(stream.subarray(i, i + 1));
  assert.deepEqual(s.published, [
    ['STOCKPRICEUPDATE', 'a'.repeat(300)],
    ['A1B2C3D4E5F6', 'b'],
  ]);
  assert.deepEqual(s.passed, connack);
});

test('a large frame over many reads is gathered once it is complete (four-byte length)', () => {
  const big = 'z'.repeat(3_000_000);
  const bytes = frame(publish('STOCKPRICEUPDATE', big));
  const s = splitter();
  for (let i = 0; i < bytes.length; i += 65_536) s.frames.write(bytes.subarray(i, i + 65_536));
  assert.equal(s.published.length, 1);
  assert.equal(s.published[0]![1].length, big.length);
});

test('PUBLISH at QoS 1 and 2 is left to MQTT.js, which acknowledges it', () => {
  const s = splitter();
  const q1 = frame(publish('STOCKPRICEUPDATE', 'one', { qos: 1, messageId: 7 }));
  const q2 = frame(publish('STOCKPRICEUPDATE', 'two', { qos: 2, messageId: 8 }));
  s.frames.write(Buffer.concat([q1, frame(publish('STOCKPRICEUPDATE', 'zero')), q2]));
  assert.deepEqual(s.published, [['STOCKPRICEUPDATE', 'zero']]);
  const left = parsed(s.passed);
  assert.deepEqual(
    left.map((p) => [p.cmd, (p as { qos?: number }).qos, String((p as { payload?: Buffer }).payload)]),
    [
      ['publish', 1, 'one'],
      ['publish', 2, 'two'],
    ],
  );
});

test('the DUP and RETAIN flags do not keep a QoS 0 PUBLISH from the direct path', () => {
  const s = splitter();
  s.frames.write(frame(publish('STOCKPRICEUPDATE', 'kept', { retain: true })));
  assert.deepEqual(s.published, [['STOCKPRICEUPDATE', 'kept']]);
});

test('MQTT 5: a PUBLISH without properties is delivered, one with properties (a topic alias) is passed on', () => {
  const s = splitter(5);
  const plain = frame(publish('STOCKPRICEUPDATE', 'plain'), v5);
  const aliased = frame(publish('', 'by alias', { properties: { topicAlias: 3 } } as Partial<Packet>), v5);
  const expiring = frame(
    publish('STOCKPRICEUPDATE', 'expiring', { properties: { messageExpiryInterval: 60 } } as Partial<Packet>),
    v5,
  );
  s.frames.write(Buffer.concat([plain, aliased, expiring]));
  assert.deepEqual(s.published, [['STOCKPRICEUPDATE', 'plain']]);
  assert.deepEqual(
    parsed(s.passed, 5).map((p) => String((p as { payload?: Buffer }).payload)),
    ['by alias', 'expiring'],
  );
});

test('MQTT 3.1.1: an empty topic is not delivered but passed on, for MQTT.js to refuse', () => {
  const s = splitter();
  const empty = Buffer.from([0x30, 0x04, 0x00, 0x00, 0x68, 0x69]);
  s.frames.write(empty);
  assert.equal(s.published.length, 0);
  assert.deepEqual(s.passed, empty);
});

test('a topic length past the end of its frame is passed on, not read beyond the frame', () => {
  const s = splitter();
  // Remaining length 4, topic length 200: malformed, and the next frame must still be found.
  const bad = Buffer.from([0x30, 0x04, 0x00, 0xc8, 0x41, 0x42]);
  s.frames.write(Buffer.concat([bad, frame(publish('STOCKPRICEUPDATE', 'next'))]));
  assert.deepEqual(s.published, [['STOCKPRICEUPDATE', 'next']]);
  assert.deepEqual(s.passed, bad);
});

test('a malformed remaining length gives up: from there on every byte goes to MQTT.js, which reports it', () => {
  const s = splitter();
  const good = frame(publish('STOCKPRICEUPDATE', 'before'));
  const malformed = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const after = frame(publish('STOCKPRICEUPDATE', 'after'));
  s.frames.write(Buffer.concat([good, malformed]));
  s.frames.write(after);
  assert.deepEqual(s.published, [['STOCKPRICEUPDATE', 'before']]);
  assert.deepEqual(s.passed, Buffer.concat([malformed, after]));
  assert.equal(parsed(s.passed)[0]!.cmd, 'error');
});

test('messages of a read that waited are dated evenly over the wait, by their place in the read', () => {
  const ages: number[] = [];
  const frames = new PublishFrames(
    4,
    (_t, _p, age) => ages.push(age),
    () => {},
  );
  const one = frame(publish('STOCKPRICEUPDATE', 'x'.repeat(20)));
  frames.write(Buffer.concat([one, one, one, one]), 100);
  assert.deepEqual(ages, [75, 50, 25, 0]);
  ages.length = 0;
  frames.write(Buffer.concat([one, one]));
  assert.deepEqual(ages, [0, 0]);
});

describe('payloads over the limit', () => {
  const LIMIT = 1000;
  function limited(protocolVersion = 4) {
    const published: Array<[string, number]> = [];
    const oversize: Array<[string, number]> = [];
    let passed = 0;
    const frames = new PublishFrames(
      protocolVersion,
      (topic, payload) => published.push([topic, payload.length]),
      (bytes) => {
        passed += bytes.length;
      },
      LIMIT,
      (topic, bytes) => oversize.push([topic, bytes]),
    );
    return { frames, published, oversize, passed: () => passed };
  }
  const big = (n: number, opts: { protocolVersion: 4 | 5 } = v4) =>
    frame(publish('LOG/A1B2C3D4E5F6', 'x'.repeat(n)), opts);
  const small = (opts: { protocolVersion: 4 | 5 } = v4) =>
    frame(publish('A1B2C3D4E5F6', '{"type":"UPDATE"}'), opts);

  test('a frame over the limit in one read is reported once with its topic and size; its neighbours are read', () => {
    const s = limited();
    s.frames.write(Buffer.concat([small(), big(LIMIT + 1), big(LIMIT), small()]));
    assert.deepEqual(s.oversize, [['LOG/A1B2C3D4E5F6', LIMIT + 1]]);
    assert.deepEqual(s.published, [
      ['A1B2C3D4E5F6', 17],
      ['LOG/A1B2C3D4E5F6', LIMIT],
      ['A1B2C3D4E5F6', 17],
    ]);
    assert.equal(s.passed(), 0);
    assert.equal(s.frames.skipped, 1);
  });

  test('a 5 MB frame streamed in 1 KiB reads is dropped as it arrives, never gathered; the next frame is read', () => {
    const s = limited();
    const bytes = Buffer.concat([connack, big(5_000_000), small(), pingresp]);
    let maxHeld = 0;
    for (let at = 0; at < bytes.length; at += 1024) {
      s.frames.write(bytes.subarray(at, at + 1024));
      maxHeld = Math.max(maxHeld, (s.frames as unknown as { heldBytes: number }).heldBytes);
    }
    assert.deepEqual(s.oversize, [['LOG/A1B2C3D4E5F6', 5_000_000]]);
    assert.deepEqual(s.published, [['A1B2C3D4E5F6', 17]]);
    assert.ok(maxHeld < 1024, `held at most ${maxHeld} bytes`);
    assert.equal(s.frames.skippedBytes, big(5_000_000).length);
    assert.equal(s.passed(), connack.length + pingresp.length);
  });

  test('a header split from its topic over three reads is held until the topic is known', () => {
    const s = limited();
    const f = big(50_000);
    s.frames.write(f.subarray(0, 2));
    s.frames.write(f.subarray(2, 8));
    assert.equal(s.oversize.length, 0);
    s.frames.write(Buffer.concat([f.subarray(8), small()]));
    assert.deepEqual(s.oversize, [['LOG/A1B2C3D4E5F6', 50_000]]);
    assert.deepEqual(s.published, [['A1B2C3D4E5F6', 17]]);
  });

  test('MQTT 5: over the limit plus the property allowance is skipped; under it is read and left to the decoder', () => {
    const s = limited(5);
    s.frames.write(Buffer.concat([big(LIMIT + 4096 + 1, v5), big(LIMIT + 10, v5), small(v5)]));
    assert.deepEqual(s.oversize, [['LOG/A1B2C3D4E5F6', LIMIT + 4096 + 1]]);
    assert.deepEqual(s.published, [
      ['LOG/A1B2C3D4E5F6', LIMIT + 10],
      ['A1B2C3D4E5F6', 17],
    ]);
  });
});
