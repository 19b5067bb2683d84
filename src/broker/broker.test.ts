import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, type TestContext, test } from 'node:test';
import type { Subscription } from 'aedes';
import { Level } from 'level';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { startBroker } from './broker.js';
import { BrokerListenError, type BrokerOptions, type EmbeddedBroker } from './types.js';
import { addUser } from './passwords.js';

const LOOPBACK = { host: '127.0.0.1', port: 0 };
const T = { timeout: 10_000 };

const tmpDirs: string[] = [];
after(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tkmprom-broker-test-'));
  tmpDirs.push(dir);
  return dir;
}

async function broker(t: TestContext, opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const b = await startBroker({ listen: LOOPBACK, ...opts });
  t.after(() => b.close());
  return b;
}

function connect(t: TestContext, url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 4, ...opts });
  t.after(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Resolves with the CONNACK refusal code. */
async function refusedCode(t: TestContext, url: string, opts: IClientOptions = {}): Promise<number> {
  try {
    await connect(t, url, opts);
  } catch (err) {
    return (err as { code: number }).code;
  }
  assert.fail('connection was accepted');
}

/** The SUBACK return codes, which MQTT.js turns into an error as soon as one of them is 0x80. */
function subackCodes(client: MqttClient, subs: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (packet: Packet) => {
      if (packet.cmd !== 'suback') return;
      client.off('packetreceive', onPacket);
      resolve(packet.granted as number[]);
    };
    client.on('packetreceive', onPacket);
    client.subscribe(subs, () => {});
  });
}

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

function record(client: MqttClient): Received[] {
  const got: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }),
  );
  return got;
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return;
    await sleep(10);
  }
}

/** Waits for `n` items, then a little longer so that an unexpected extra one would be seen. */
async function settle<T>(items: T[], n: number, timeoutMs = 3000): Promise<T[]> {
  await until(() => items.length >= n, timeoutMs);
  await sleep(100);
  return items;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function port(url: string | undefined): string {
  assert.ok(url);
  return new URL(url).port;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 5000): { done: Promise<RunResult>; kill: () => void } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

/** Resolves once the broker has seen subscriptions to every one of `topics`. */
function subscribed(b: EmbeddedBroker, topics: string[], timeoutMs = 3000): Promise<void> {
  const pending = new Set(topics);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      b.aedes.off('subscribe', onSubscribe);
      reject(new Error(`no subscription to ${[...pending].join(', ')}`));
    }, timeoutMs);
    const onSubscribe = (subs: Subscription[]) => {
      for (const s of subs) pending.delete(s.topic);
      if (pending.size === 0) {
        clearTimeout(timer);
        b.aedes.off('subscribe', onSubscribe);
        resolve();
      }
    };
    b.aedes.on('subscribe', onSubscribe);
  });
}

/** A hand-driven MQTT connection: writes packets with mqtt-packet and collects what comes back. */
async function rawClient(t: TestContext, url: string) {
  const socket = net.connect(Number(port(url)), '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const got: mqttPacket.Packet[] = [];
  let closed = false;
  parser.on('packet', (p: mqttPacket.Packet) => got.push(p));
  socket.on('data', (d) => parser.parse(d));
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  return {
    got,
    closed: () => closed,
    send(packet: mqttPacket.Packet | Buffer) {
      socket.write(Buffer.isBuffer(packet) ? packet : mqttPacket.generate(packet));
    },
    /** The first packet of this kind received, taken out of `got`; waits up to 3 s for it. */
    async next<C extends mqttPacket.Packet['cmd']>(cmd: C): Promise<Extract<mqttPacket.Packet, { cmd: C }>> {
      await until(() => got.some((p) => p.cmd === cmd));
      const i = got.findIndex((p) => p.cmd === cmd);
      assert.ok(i >= 0, `no ${cmd} received`);
      return got.splice(i, 1)[0] as Extract<mqttPacket.Packet, { cmd: C }>;
    },
    publishes(): [string, string][] {
      return got.flatMap((p) =>
        p.cmd === 'publish' ? [[p.topic, String(p.payload)] as [string, string]] : [],
      );
    },
  };
}

function connectPacket(clientId: string, clean: boolean): mqttPacket.Packet {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive: 30 };
}

describe('MQTT 3.1.1 conformance', () => {
  test(
    'a zero-length client id: CONNACK 2 without a clean session, an assigned id with one',
    T,
    async (t) => {
      const b = await broker(t);
      const url = b.addresses().mqtt!;
      const persistent = await rawClient(t, url);
      // mqtt-packet will not write this CONNECT: protocol MQTT 4, flags 0 (no clean session),
      // keepalive 30, client id of length 0.
      persistent.send(Buffer.from('100c00044d5154540400001e0000', 'hex'));
      const refused = await persistent.next('connack');
      assert.deepEqual([refused.returnCode, refused.sessionPresent], [2, false]);
      await until(persistent.closed);
      assert.equal(persistent.closed(), true);

      // MQTT 3.1 allows no empty id at all.
      const v31 = await rawClient(t, url);
      // Nor this one: protocol MQIsdp 3, clean session, keepalive 30, client id of length 0.
      v31.send(Buffer.from('100e00064d51497364700302001e0000', 'hex'));
      assert.equal((await v31.next('connack')).returnCode, 2);

      const ids: string[] = [];
      b.aedes.on('clientReady', (c) => ids.push(c.id));
      const clean = await rawClient(t, url);
      clean.send(connectPacket('', true));
      const accepted = await clean.next('connack');
      assert.deepEqual([accepted.returnCode, accepted.sessionPresent], [0, false]);
      clean.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'id/#', qos: 1 }] });
      assert.deepEqual((await clean.next('suback')).granted, [1]);
      clean.send({ cmd: 'pingreq' });
      await clean.next('pingresp');
      assert.equal(ids.length, 1);
      assert.match(ids[0]!, /^aedes_[0-9a-f-]{36}$/);

      const withMqttjs = await connect(t, url, { clientId: '', clean: true });
      assert.equal(withMqttjs.connected, true);
      assert.equal(b.stats().connectionsRefused.identifier_rejected, 2);
      assert.equal(b.stats().clientsConnected, 2);
    },
  );

  test(
    'an MQTT 5 client is refused with the MQTT 3.1.1 CONNACK 1 (unacceptable protocol level) and disconnected',
    T,
    async (t) => {
      const b = await broker(t);
      const url = b.addresses().mqtt!;
      const socket = net.connect(Number(port(url)), '127.0.0.1');
      t.after(() => socket.destroy());
      await new Promise((resolve) => socket.once('connect', resolve));
      const bytes: Buffer[] = [];
      socket.on('data', (d) => bytes.push(d));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(
        mqttPacket.generate(
          {
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 5,
            clientId: 'v5-client',
            clean: true,
            keepalive: 30,
            properties: { sessionExpiryInterval: 60 },
          },
          { protocolVersion: 5 },
        ),
      );
      await closed;
      // MQTT-3.1.2-2 of 3.1.1: return code 1, then close; the CONNACK is in 3.1.1's format, which
      // MQTT.js reads as a refusal but a strict MQTT 5 parser may not.
      assert.equal(Buffer.concat(bytes).toString('hex'), '20020001');

      assert.equal(await refusedCode(t, url, { protocolVersion: 5, clientId: 'mqttjs-v5' }), 1);
      await until(() => b.stats().connectionsRefused.unacceptable_protocol === 2);
      assert.equal(b.stats().connectionsRefused.unacceptable_protocol, 2);
      assert.equal(b.stats().clientsConnected, 0);
    },
  );

  test('an ACL without a password file applies its anonymous rules to every client', T, async (t) => {
    const dir = await tempDir();
    const aclFile = join(dir, 'acl.yaml');
    await writeFile(
      aclFile,
      ['anonymous:', "  publish: ['STOCKPRICEUPDATE', 'ALERT/#']", "  subscribe: ['+', 'ALERT/#']", ''].join(
        '\n',
      ),
    );
    const b = await broker(t, { aclFile });
    const url = b.addresses().mqtt!;
    const raw = await rawClient(t, url);
    raw.send(connectPacket('open-1', true));
    assert.equal((await raw.next('connack')).returnCode, 0);
    raw.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: '+', qos: 1 },
        { topic: 'ALERT/high', qos: 0 },
        { topic: '#', qos: 0 },
        { topic: 'secret/plan', qos: 2 },
      ],
    });
    const suback = await raw.next('suback');
    assert.equal(suback.messageId, 7);
    assert.deepEqual(suback.granted, [1, 0, 0x80, 0x80]);

    // A user name the broker cannot verify grants nothing more.
    const claimed = await connect(t, url, { username: 'admin', password: 'anything' });
    assert.deepEqual(await subackCodes(claimed, { '#': { qos: 0 } }), [0x80]);
    const got = record(claimed);
    await claimed.subscribeAsync('ALERT/#');
    await claimed.publishAsync('STOCKPRICEUPDATE', 'AAPL', { qos: 1 });
    await claimed.publishAsync('FORBIDDEN', 'x', { qos: 1 });
    await claimed.publishAsync('ALERT/1', 'fire', { qos: 0 });
    await settle(got, 1);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload]),
      [['ALERT/1', 'fire']],
    );
    await until(() => raw.publishes().length === 1);
    assert.deepEqual(raw.publishes(), [['STOCKPRICEUPDATE', 'AAPL']]);
    assert.equal(b.stats().subscriptionsDenied, 3);
    assert.equal(b.stats().publishesDenied, 1);
  });

  test(
    'an ACL listing users without a password file is refused, naming the users and the fix',
    T,
    async () => {
      const dir = await tempDir();
      const aclFile = join(dir, 'acl.yaml');
      await writeFile(aclFile, "users:\n  alice:\n    subscribe: ['#']\n  bob: {}\n");
      await assert.rejects(startBroker({ listen: LOOPBACK, aclFile }), {
        code: ErrorCodes.ACL_FILE_INVALID,
        message: `ACL file ${aclFile}: users (alice, bob) need a password file to verify their names: set broker.passwordFile, or put the rules under "anonymous:" for every client`,
      });
    },
  );
});

describe('$SYS topics', () => {
  const SYS_NAMES = [
    'bytes/received',
    'bytes/sent',
    'clients/connected',
    'messages/received',
    'messages/sent',
    'publish/messages/dropped',
    'publish/messages/received',
    'publish/messages/sent',
    'retained messages/count',
    'uptime',
  ];

  test('$SYS/broker/... retained at once, then every interval with the values moved', T, async (t) => {
    const dir = await tempDir();
    const aclFile = join(dir, 'acl.yaml');
    await writeFile(aclFile, "anonymous:\n  publish: ['q/#']\n  subscribe: ['$SYS/#', 'q/#']\n");
    const b = await broker(t, { aclFile, sysIntervalMs: 200 });
    const url = b.addresses().mqtt!;
    const sys = new Map<string, { payload: string; retain: boolean }[]>();
    const watcher = await connect(t, url);
    watcher.on('message', (topic, payload, packet) => {
      const name = topic.replace('$SYS/broker/', '');
      sys.set(name, [...(sys.get(name) ?? []), { payload: payload.toString(), retain: packet.retain }]);
    });
    await watcher.subscribeAsync('$SYS/broker/#');
    await until(() => sys.size === SYS_NAMES.length);
    await sleep(50);
    assert.deepEqual([...sys.keys()].sort(), SYS_NAMES);
    // The first of each is the retained one, published before any client connected.
    const first = Object.fromEntries([...sys].map(([k, v]) => [k, v[0]!]));
    for (const name of SYS_NAMES) assert.equal(first[name]!.retain, true, name);
    assert.deepEqual(Object.fromEntries(Object.entries(first).map(([k, v]) => [k, v.payload])), {
      'bytes/received': '0',
      'bytes/sent': '0',
      'clients/connected': '0',
      'messages/received': '0',
      'messages/sent': '0',
      'publish/messages/dropped': '0',
      'publish/messages/received': '0',
      'publish/messages/sent': '0',
      'retained messages/count': '0',
      uptime: '0 seconds',
    });

    const latest = (name: string) => sys.get(name)?.at(-1)?.payload;
    const pub = await connect(t, url);
    await pub.publishAsync('q/1', 'a', { qos: 1 });
    await pub.publishAsync('q/2', 'b', { qos: 0, retain: true });
    await pub.publishAsync('forbidden', 'c', { qos: 1 });
    await until(() => latest('messages/received') === '2' && latest('publish/messages/dropped') === '1');
    assert.equal(latest('messages/received'), '2');
    assert.equal(latest('publish/messages/received'), '2');
    assert.equal(latest('publish/messages/dropped'), '1');
    assert.equal(latest('retained messages/count'), '1');
    assert.equal(latest('clients/connected'), '2');
    assert.ok(Number(latest('bytes/received')) > 0);
    assert.ok(Number(latest('bytes/sent')) > 0);
    // The watcher's own $SYS deliveries are sent messages too, as in Mosquitto.
    assert.ok(Number(latest('messages/sent')) >= SYS_NAMES.length);
    // Only changed values are published again: the dropped count went from 0 to 1, once.
    assert.deepEqual(
      sys.get('publish/messages/dropped')!.map((m) => [m.payload, m.retain]),
      [
        ['0', true],
        ['1', false],
      ],
    );
    await until(() => latest('uptime') === '1 seconds', 2000);
    assert.equal(latest('uptime'), '1 seconds');
    // None of it is counted as a routed message or a retained topic of the fleet.
    assert.deepEqual(b.stats().messagesIn, { 0: 1, 1: 1, 2: 0 });
    assert.equal(b.stats().retainedCount, 1);
  });

  test(
    'retained $ topics reach a new subscription only through a filter without a leading wildcard (MQTT-4.7.2-1)',
    T,
    async (t) => {
      const b = await broker(t, { sysIntervalMs: 60_000 });
      const url = b.addresses().mqtt!;
      const pub = await connect(t, url);
      await pub.publishAsync('$app/state', 'up', { qos: 1, retain: true });
      await pub.publishAsync('fleet/state', 'ok', { qos: 1, retain: true });

      // Before the fix, `#` brought the ten retained $SYS/broker/... topics and $app/state along.
      const wild = await connect(t, url);
      const wildGot = record(wild);
      await wild.subscribeAsync({ '#': { qos: 1 }, '+/state': { qos: 0 } });
      assert.deepEqual(
        (await settle(wildGot, 2)).map((m) => [m.topic, m.payload, m.retain]),
        [
          ['fleet/state', 'ok', true],
          ['fleet/state', 'ok', true],
        ],
      );

      const named = await connect(t, url);
      const namedGot = record(named);
      await named.subscribeAsync({ '#': { qos: 0 }, '$app/#': { qos: 0 }, '$SYS/broker/uptime': { qos: 0 } });
      const topics = (await settle(namedGot, 3)).map((m) => m.topic).sort();
      assert.deepEqual(topics, ['$SYS/broker/uptime', '$app/state', 'fleet/state']);
      // Live $ publishes keep to the same rule.
      await pub.publishAsync('$app/state', 'down', { qos: 0 });
      await settle(namedGot, 4);
      assert.deepEqual(namedGot.at(-1), { topic: '$app/state', payload: 'down', qos: 0, retain: false });
      assert.equal(wildGot.length, 2);
    },
  );

  test('without sysIntervalMs there are none', T, async (t) => {
    const b = await broker(t);
    const watcher = await connect(t, b.addresses().mqtt!);
    const got = record(watcher);
    await watcher.subscribeAsync('$SYS/broker/#');
    await sleep(300);
    assert.deepEqual(got, []);
  });
});

describe('publish and subscribe', () => {
  test('QoS 0, 1 and 2 with MQTT.js, exact payloads', T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const sub = await connect(t, url);
    const got = record(sub);
    assert.deepEqual(await sub.subscribeAsync('q/#', { qos: 2 }), [{ topic: 'q/#', qos: 2 }]);
    const pub = await connect(t, url);
    await pub.publishAsync('q/0', 'zero', { qos: 0 });
    await pub.publishAsync('q/1', 'one', { qos: 1 });
    await pub.publishAsync('q/2', 'two', { qos: 2 });
    assert.deepEqual(await settle(got, 3), [
      { topic: 'q/0', payload: 'zero', qos: 0, retain: false },
      { topic: 'q/1', payload: 'one', qos: 1, retain: false },
      { topic: 'q/2', payload: 'two', qos: 2, retain: false },
    ]);
  });

  test('wildcards + and # with MQTT.js', T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const sub = await connect(t, url);
    const got = record(sub);
    await sub.subscribeAsync({ 'a/+/c': { qos: 0 }, 'x/#': { qos: 0 } });
    const pub = await connect(t, url);
    for (const topic of ['a/b/c', 'a/b/d', 'a/b/c/d', 'x', 'x/y/z', 'y', 'a//c']) {
      await pub.publishAsync(topic, topic, { qos: 1 });
    }
    const topics = (await settle(got, 4)).map((m) => m.topic);
    assert.deepEqual(topics, ['a/b/c', 'x', 'x/y/z', 'a//c']);
  });

  test('mosquitto_pub and mosquitto_sub at QoS 0, 1, 2 with wildcards', T, async (t) => {
    const b = await broker(t);
    const p = port(b.addresses().mqtt);
    const ready = subscribed(b, ['m/+/v', 'n/#']);
    const sub = run('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', p, '-i', 'msub', '-q', '2', '-v', '-C', '4', '-W', '8'],
      ...['-t', 'm/+/v', '-t', 'n/#'],
    ]);
    t.after(sub.kill);
    await ready;
    const publishes: [string, string, string][] = [
      ['m/1/v', 'q0', '0'],
      ['m/1/x', 'nope', '0'],
      ['m/2/v', 'q1', '1'],
      ['n/a/b', 'q2', '2'],
      ['n', 'parent', '1'],
    ];
    for (const [topic, message, qos] of publishes) {
      const r = await run('mosquitto_pub', [
        '-h',
        '127.0.0.1',
        '-p',
        p,
        '-t',
        topic,
        '-m',
        message,
        '-q',
        qos,
      ]).done;
      assert.equal(r.code, 0, r.stderr);
    }
    const result = await sub.done;
    assert.equal(result.code, 0, result.stderr);
    // libmosquitto hands a QoS 2 message to the application only on PUBREL, so a later QoS 1
    // message can be printed first: compare without order.
    assert.deepEqual(result.stdout.trim().split('\n').sort(), [
      'm/1/v q0',
      'm/2/v q1',
      'n parent',
      'n/a/b q2',
    ]);
  });
});

describe('retained messages and wills', () => {
  test('a new subscriber gets the retained message; an empty payload clears it', T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const pub = await connect(t, url);
    await pub.publishAsync('r/price', '123.45', { qos: 1, retain: true });
    await until(() => b.stats().retainedCount === 1);
    assert.equal(b.stats().retainedCount, 1);

    const first = await connect(t, url);
    const got1 = record(first);
    await first.subscribeAsync('r/#', { qos: 1 });
    assert.deepEqual(await settle(got1, 1), [{ topic: 'r/price', payload: '123.45', qos: 1, retain: true }]);

    const viaMosquitto = await run('mosquitto_sub', [
      ...['-h', '127.0.0.1', '-p', port(url), '-t', 'r/price', '-C', '1', '-W', '5', '-v'],
    ]).done;
    assert.equal(viaMosquitto.stdout, 'r/price 123.45\n');

    await pub.publishAsync('r/price', '', { qos: 1, retain: true });
    await until(() => b.stats().retainedCount === 0);
    assert.equal(b.stats().retainedCount, 0);
    const second = await connect(t, url);
    const got2 = record(second);
    await second.subscribeAsync('r/#', { qos: 1 });
    await sleep(300);
    assert.deepEqual(got2, []);
  });

  test("the last will is published when a client's socket is destroyed", T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const watcher = await connect(t, url);
    const got = record(watcher);
    await watcher.subscribeAsync('dev/+/lwt', { qos: 1 });
    const device = await connect(t, url, {
      clientId: 'tickr-7',
      will: { topic: 'dev/7/lwt', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    device.stream.destroy();
    assert.deepEqual(await settle(got, 1), [
      { topic: 'dev/7/lwt', payload: 'offline', qos: 1, retain: false },
    ]);
  });

  test('no will after a clean DISCONNECT', T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const watcher = await connect(t, url);
    const got = record(watcher);
    await watcher.subscribeAsync('dev/+/lwt', { qos: 1 });
    const device = await connect(t, url, {
      will: { topic: 'dev/8/lwt', payload: Buffer.from('offline'), qos: 1, retain: false },
    });
    await device.endAsync();
    await sleep(300);
    assert.deepEqual(got, []);
  });
});

describe('durability with a data directory', () => {
  test('persistent sessions and retained messages survive a broker restart', T, async (t) => {
    const dataDir = await tempDir();
    const first = await startBroker({ listen: LOOPBACK, dataDir });
    let firstClosed = false;
    t.after(() => (firstClosed ? undefined : first.close()));

    const session = { clientId: 'tickr-session', clean: false };
    const sub = await connect(t, first.addresses().mqtt!, session);
    await sub.subscribeAsync('quotes/#', { qos: 1 });
    await sub.endAsync();

    const pub = await connect(t, first.addresses().mqtt!);
    for (const sym of ['AAPL', 'MSFT', 'NVDA']) await pub.publishAsync(`quotes/${sym}`, sym, { qos: 1 });
    await pub.publishAsync('config/interval', '30', { qos: 0, retain: true });
    await pub.endAsync();
    // PUBACK precedes the queueing of a QoS 1 message, so wait until the broker has routed all four.
    await until(() => first.stats().messagesIn[1] === 3 && first.stats().messagesIn[0] === 1);
    await first.close();
    firstClosed = true;

    const second = await broker(t, { dataDir });
    assert.equal(second.stats().retainedCount, 1);
    const resumed = mqtt.connect(second.addresses().mqtt!, {
      ...session,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      protocolVersion: 4,
    });
    t.after(() => new Promise<void>((resolve) => resumed.end(true, {}, () => resolve())));
    const got = record(resumed);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      resumed.once('connect', resolve);
      resumed.once('error', reject);
    });
    assert.equal(connack.sessionPresent, true);
    assert.deepEqual(
      (await settle(got, 3)).map((m) => [m.topic, m.payload, m.qos]),
      [
        ['quotes/AAPL', 'AAPL', 1],
        ['quotes/MSFT', 'MSFT', 1],
        ['quotes/NVDA', 'NVDA', 1],
      ],
    );

    // The restored subscription is live again, not only the queue.
    const pub2 = await connect(t, second.addresses().mqtt!);
    await pub2.publishAsync('quotes/TSLA', 'TSLA', { qos: 1 });
    assert.deepEqual((await settle(got, 4)).at(-1), {
      topic: 'quotes/TSLA',
      payload: 'TSLA',
      qos: 1,
      retain: false,
    });

    const fresh = await connect(t, second.addresses().mqtt!);
    const retained = record(fresh);
    await fresh.subscribeAsync('config/#');
    assert.deepEqual(await settle(retained, 1), [
      { topic: 'config/interval', payload: '30', qos: 0, retain: true },
    ]);
  });

  test('a clean shutdown publishes the wills and leaves none behind in the store', T, async (t) => {
    const dataDir = await tempDir();
    const b = await startBroker({ listen: LOOPBACK, dataDir });
    let closed = false;
    t.after(() => (closed ? undefined : b.close()));
    for (let i = 0; i < 3; i++) {
      await connect(t, b.addresses().mqtt!, {
        clientId: `tickr-${i}`,
        clean: i !== 1,
        will: { topic: `dev/${i}/lwt`, payload: Buffer.from('offline'), qos: 1, retain: true },
      });
    }
    await b.close();
    closed = true;
    const db = new Level<string, Buffer>(dataDir, { valueEncoding: 'buffer' });
    const keys: string[] = [];
    try {
      for await (const key of db.keys()) keys.push(key);
    } finally {
      await db.close();
    }
    assert.deepEqual(
      keys.filter((k) => k.startsWith('will:') || k.startsWith('retained:')),
      ['retained:dev/0/lwt', 'retained:dev/1/lwt', 'retained:dev/2/lwt'],
    );
  });

  test('a data directory in use by another broker is refused', T, async (t) => {
    const dataDir = await tempDir();
    await broker(t, { dataDir });
    await assert.rejects(startBroker({ listen: LOOPBACK, dataDir }), (err: unknown) => {
      assert.ok(err instanceof TkmpromError);
      assert.equal(err.code, ErrorCodes.DATA_DIR_UNUSABLE);
      assert.match(err.message, /locked by another process/);
      return true;
    });
  });
});

describe('authentication and ACL', () => {
  async function authFixture(t: TestContext, acl?: string) {
    const dir = await tempDir();
    const passwordFile = join(dir, 'passwd');
    await addUser(passwordFile, 'alice', 'wonderland');
    await addUser(passwordFile, 'bob', 'builder');
    await addUser(passwordFile, 'carol', 'singer');
    let aclFile: string | undefined;
    if (acl !== undefined) {
      aclFile = join(dir, 'acl.yaml');
      await writeFile(aclFile, acl);
    }
    const b = await broker(t, { passwordFile, aclFile });
    return { b, url: b.addresses().mqtt!, passwordFile };
  }

  test('right password accepted, wrong or unknown refused, add-user then login', T, async (t) => {
    const { b, url, passwordFile } = await authFixture(t);
    const text = await readFile(passwordFile, 'utf8');
    assert.ok(!text.includes('wonderland') && !text.includes('builder'));
    assert.match(text, /^alice:scrypt\$16384\$8\$1\$/m);

    await connect(t, url, { username: 'alice', password: 'wonderland' });
    assert.equal(await refusedCode(t, url, { username: 'alice', password: 'Wonderland' }), 5);
    assert.equal(await refusedCode(t, url, { username: 'mallory', password: 'wonderland' }), 5);
    assert.equal(await refusedCode(t, url, {}), 5);

    await addUser(passwordFile, 'dave', 'diver');
    assert.equal(await refusedCode(t, url, { username: 'dave', password: 'diver' }), 5);
    await b.reloadAuth();
    await connect(t, url, { username: 'dave', password: 'diver' });
    // Logins are cached; a changed password must not let the old one in.
    await addUser(passwordFile, 'alice', 'new-secret');
    await b.reloadAuth();
    assert.equal(await refusedCode(t, url, { username: 'alice', password: 'wonderland' }), 5);
    await connect(t, url, { username: 'alice', password: 'new-secret' });

    const p = port(url);
    const ok = await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      p,
      '-u',
      'bob',
      '-P',
      'builder',
      '-t',
      'x',
      '-m',
      'y',
    ]).done;
    assert.equal(ok.code, 0, ok.stderr);
    const bad = await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      p,
      '-u',
      'bob',
      '-P',
      'nope',
      '-t',
      'x',
      '-m',
      'y',
    ]).done;
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not authori[sz]ed/i);
    assert.equal(b.stats().connectionsRefused.not_authorized, 6);
  });

  test(
    'ACL: allowed publish delivered, forbidden publish dropped, forbidden subscribe refused',
    T,
    async (t) => {
      const { b, url } = await authFixture(
        t,
        [
          'users:',
          '  alice:',
          "    publish: ['STOCKPRICEUPDATE', 'DEVICESTATUS_RES']",
          "    subscribe: ['+', 'ALERT/#']",
          '  bob:',
          "    subscribe: ['#']",
          '',
        ].join('\n'),
      );
      const bob = await connect(t, url, { username: 'bob', password: 'builder' });
      const bobGot = record(bob);
      assert.deepEqual(await bob.subscribeAsync('#'), [{ topic: '#', qos: 0 }]);

      const alice = await connect(t, url, { username: 'alice', password: 'wonderland' });
      assert.deepEqual(
        await subackCodes(alice, { '+': { qos: 0 }, 'ALERT/high': { qos: 1 }, 'secret/#': { qos: 0 } }),
        [0, 1, 128],
      );
      await alice.publishAsync('STOCKPRICEUPDATE', 'AAPL 1', { qos: 1 });
      await alice.publishAsync('FORBIDDEN', 'x', { qos: 1 });
      await alice.publishAsync('secret/plan', 'y', { qos: 2 });
      await alice.publishAsync('DEVICESTATUS_RES', 'ok', { qos: 0 });
      assert.deepEqual(
        (await settle(bobGot, 2)).map((m) => [m.topic, m.payload]),
        [
          ['STOCKPRICEUPDATE', 'AAPL 1'],
          ['DEVICESTATUS_RES', 'ok'],
        ],
      );
      assert.equal(alice.connected, true);

      // carol has a password but no ACL entry: no access at all.
      const carol = await connect(t, url, { username: 'carol', password: 'singer' });
      assert.deepEqual(await subackCodes(carol, { '#': { qos: 0 } }), [128]);
      await carol.publishAsync('STOCKPRICEUPDATE', 'fake', { qos: 1 });
      await sleep(200);
      assert.equal(bobGot.length, 2);
      assert.equal(b.stats().publishesDenied, 3);
      assert.equal(b.stats().subscriptionsDenied, 2);
    },
  );
});

describe('limits and transports', () => {
  test('with maxConnections 2 the third client is refused and counted', T, async (t) => {
    const b = await broker(t, { maxConnections: 2, websocket: LOOPBACK });
    const url = b.addresses().mqtt!;
    const one = await connect(t, url);
    await connect(t, b.addresses().ws!);
    assert.equal(await refusedCode(t, url), 3);
    assert.equal(await refusedCode(t, b.addresses().ws!), 3);
    const mosq = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port(url), '-t', 'x', '-m', 'y']).done;
    assert.notEqual(mosq.code, 0);
    assert.match(mosq.stderr, /unavailable/i);
    assert.equal(b.stats().connectionsRefused.max_connections, 3);
    assert.equal(b.stats().clientsConnected, 2);
    await one.endAsync();
    await until(() => b.stats().clientsConnected === 1);
    await connect(t, url);
    assert.equal(b.stats().clientsConnected, 2);
  });

  test('a taken port is reported with its address', T, async (t) => {
    const b = await broker(t);
    const taken = Number(port(b.addresses().mqtt));
    await assert.rejects(
      startBroker({ listen: { host: '127.0.0.1', port: taken }, websocket: LOOPBACK }),
      (err: unknown) => {
        assert.ok(err instanceof BrokerListenError);
        assert.equal(err.code, ErrorCodes.LISTEN_ADDRESS_IN_USE);
        assert.equal(err.listener, 'mqtt');
        assert.equal(err.message, `address 127.0.0.1:${taken} is already in use`);
        return true;
      },
    );
  });

  test('MQTT over WebSocket reaches a TCP subscriber', T, async (t) => {
    const b = await broker(t, { websocket: { ...LOOPBACK, path: '/mqtt' } });
    const { mqtt: tcpUrl, ws: wsUrl } = b.addresses();
    assert.match(wsUrl!, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const sub = await connect(t, tcpUrl!);
    const got = record(sub);
    await sub.subscribeAsync('ws/#', { qos: 1 });
    const wsClient = await connect(t, wsUrl!);
    await wsClient.publishAsync('ws/hello', 'over websocket', { qos: 1 });
    assert.deepEqual(await settle(got, 1), [
      { topic: 'ws/hello', payload: 'over websocket', qos: 1, retain: false },
    ]);
  });

  const hasOpenssl = spawnSync('which', ['openssl']).status === 0;
  test('MQTT over TLS with a self-signed certificate', {
    ...T,
    skip: hasOpenssl ? false : 'openssl not found on PATH',
  }, async (t) => {
    const dir = await tempDir();
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    const gen = await run('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ]).done;
    assert.equal(gen.code, 0, gen.stderr);
    const b = await broker(t, { tls: { ...LOOPBACK, certFile, keyFile } });
    const { mqtt: tcpUrl, mqtts } = b.addresses();
    assert.match(mqtts!, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const sub = await connect(t, tcpUrl!);
    const got = record(sub);
    await sub.subscribeAsync('tls/#', { qos: 1 });
    const secure = await connect(t, mqtts!, { ca: await readFile(certFile), rejectUnauthorized: true });
    await secure.publishAsync('tls/a', 'secret', { qos: 1 });
    const viaMosquitto = await run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', port(mqtts), '--cafile', certFile, '-t', 'tls/b', '-m', 'mosq', '-q', '1'],
    ]).done;
    assert.equal(viaMosquitto.code, 0, viaMosquitto.stderr);
    assert.deepEqual(
      (await settle(got, 2)).map((m) => [m.topic, m.payload]),
      [
        ['tls/a', 'secret'],
        ['tls/b', 'mosq'],
      ],
    );
    // Without the CA the self-signed certificate must be rejected.
    await assert.rejects(connect(t, mqtts!, { rejectUnauthorized: true }));
  });
});

describe('stats and in-process subscribers', () => {
  test('stats() after a known sequence', T, async (t) => {
    const b = await broker(t);
    const url = b.addresses().mqtt!;
    const zero = b.stats();
    assert.deepEqual(zero, {
      clientsConnected: 0,
      messagesIn: { 0: 0, 1: 0, 2: 0 },
      messagesOut: { 0: 0, 1: 0, 2: 0 },
      bytesIn: 0,
      bytesOut: 0,
      retainedCount: 0,
      connectionsRefused: {
        max_connections: 0,
        not_authorized: 0,
        bad_username_or_password: 0,
        unacceptable_protocol: 0,
        identifier_rejected: 0,
        server_unavailable: 0,
        other: 0,
      },
      publishesDenied: 0,
      subscriptionsDenied: 0,
    });

    // A hand-written session gives exact byte counts: CONNECT (17 bytes), PUBLISH QoS 0 (12), DISCONNECT (2).
    const raw = net.connect(Number(port(url)), '127.0.0.1');
    t.after(() => raw.destroy());
    const connack = new Promise<Buffer>((resolve) => raw.once('data', resolve));
    raw.write(Buffer.from('100f00044d5154540402003c0003726177', 'hex'));
    assert.deepEqual(await connack, Buffer.from([0x20, 0x02, 0x00, 0x00]));
    raw.write(Buffer.concat([Buffer.from([0x30, 0x0a, 0x00, 0x03]), Buffer.from('b/xhello')]));
    raw.end(Buffer.from([0xe0, 0x00]));
    await new Promise((resolve) => raw.once('close', resolve));
    await until(() => b.stats().bytesIn === 31);
    assert.equal(b.stats().bytesIn, 31);
    assert.equal(b.stats().bytesOut, 4);
    assert.deepEqual(b.stats().messagesIn, { 0: 1, 1: 0, 2: 0 });

    const exact = await connect(t, url);
    const wild = await connect(t, url);
    const exactGot = record(exact);
    const wildGot = record(wild);
    await exact.subscribeAsync({ 's/a': { qos: 2 }, 's/b': { qos: 1 }, 's/c': { qos: 1 } });
    await wild.subscribeAsync('s/+', { qos: 0 });
    const wild1 = await connect(t, url);
    const wild1Got = record(wild1);
    await wild1.subscribeAsync('s/#', { qos: 1 });
    const pub = await connect(t, url);
    await pub.publishAsync('s/a', '1', { qos: 0 });
    await pub.publishAsync('s/b', '2', { qos: 1 });
    await pub.publishAsync('s/c', '3', { qos: 2 });
    await pub.publishAsync('keep/1', 'k', { qos: 1, retain: true });
    await pub.publishAsync('nobody', 'n', { qos: 2 });
    await settle(exactGot, 3);
    await settle(wildGot, 3);
    await settle(wild1Got, 3);
    assert.deepEqual(
      exactGot.map((m) => m.qos),
      [0, 1, 1],
    );
    assert.deepEqual(
      wildGot.map((m) => m.qos),
      [0, 0, 0],
    );
    // QoS 2 through a wildcard granted QoS 1 goes out at QoS 1 (MQTT-3.8.4-6).
    assert.deepEqual(
      wild1Got.map((m) => m.qos),
      [0, 1, 1],
    );
    const s = b.stats();
    assert.equal(s.clientsConnected, 4);
    assert.deepEqual(s.messagesIn, { 0: 2, 1: 2, 2: 2 });
    assert.deepEqual(s.messagesOut, { 0: 5, 1: 4, 2: 0 });
    assert.equal(s.retainedCount, 1);
    assert.ok(s.bytesIn > 31 && s.bytesOut > 4);
  });

  test('subscribeInProcess receives exactly the matching publishes until unsubscribed', T, async (t) => {
    const b = await broker(t);
    const got: [string, string][] = [];
    const unsubscribe = await b.subscribeInProcess(['dev/+/status', 'ALERT/#'], (topic, payload) => {
      assert.ok(Buffer.isBuffer(payload));
      got.push([topic, payload.toString()]);
    });
    const pub = await connect(t, b.addresses().mqtt!);
    await pub.publishAsync('dev/1/status', 'a', { qos: 0 });
    await pub.publishAsync('dev/1/other', 'x', { qos: 0 });
    await pub.publishAsync('dev/2/status', 'b', { qos: 1 });
    await pub.publishAsync('ALERT', 'c', { qos: 2 });
    await settle(got, 3);
    await unsubscribe();
    await pub.publishAsync('dev/3/status', 'late', { qos: 1 });
    await sleep(100);
    assert.deepEqual(got, [
      ['dev/1/status', 'a'],
      ['dev/2/status', 'b'],
      ['ALERT', 'c'],
    ]);
    assert.deepEqual(b.stats().messagesOut, { 0: 0, 1: 0, 2: 0 });
  });

  test('works without any network listener', T, async (t) => {
    const b = await startBroker({});
    t.after(() => b.close());
    assert.deepEqual(b.addresses(), {});
    const got: string[] = [];
    await b.subscribeInProcess(['#'], (topic) => got.push(topic));
    await new Promise<void>((resolve, reject) =>
      b.aedes.publish(
        { cmd: 'publish', topic: 'in/proc', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    assert.deepEqual(await settle(got, 1), ['in/proc']);
  });
});
