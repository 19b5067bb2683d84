import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { eventually, freePort, waitForPort } from './helpers/mosquitto.js';

/**
 * The promise of src/broker/README.md "Durability": with a data dir, a process crash (kill -9)
 * loses nothing the broker had stored. `tkmprom broker` runs as a real process here.
 */
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const QUEUED = 1_000;

const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function startBroker(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      ...['--import', 'tsx', MAIN, 'broker', '--listen', `127.0.0.1:${port}`],
      ...['--data-dir', dataDir, '--sys-interval', '1s', '--log-level', 'warn'],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  await waitForPort(port, 20_000);
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const OPTS: IClientOptions = { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 };

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { ...OPTS, ...opts });
}

test('kill -9 with a data dir: 1,000 queued QoS 1 messages come back in order (and one queued after the restart last), and the retained one', {
  timeout: 90_000,
}, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tkmprom-broker-durability-'));
  dirs.push(dataDir);
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  const session = { clientId: 'durable-session', clean: false };

  let broker = await startBroker(port, dataDir);
  const sub = await connect(url, session);
  assert.deepEqual(await sub.subscribeAsync('quotes/#', { qos: 1 }), [{ topic: 'quotes/#', qos: 1 }]);
  await sub.endAsync();

  // The broker counts a publish once it is routed, after it was written to the session's queue.
  const watcher = await connect(url);
  let received = '';
  watcher.on('message', (_topic, payload) => {
    received = payload.toString();
  });
  await watcher.subscribeAsync('$SYS/broker/messages/received');

  const pub = await connect(url);
  await pub.publishAsync('config/interval', '30', { qos: 1, retain: true });
  for (let i = 0; i < QUEUED; i++) await pub.publishAsync(`quotes/S${i}`, String(i), { qos: 1 });
  await pub.endAsync();
  await eventually(() => received === String(QUEUED + 1), 10_000, `${QUEUED + 1} messages routed`);
  await watcher.endAsync(true);

  await kill9(broker);
  assert.equal(broker.signalCode, 'SIGKILL');
  broker = await startBroker(port, dataDir);
  try {
    // One more for the session while it is still away, queued by this second run: it comes after
    // the first run's, whatever ids the two runs drew.
    const late = await connect(url);
    await late.publishAsync(`quotes/S${QUEUED}`, String(QUEUED), { qos: 1 });
    await late.endAsync();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const got: [string, string, number][] = [];
    const resumed = mqtt.connect(url, { ...OPTS, ...session });
    resumed.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.qos]));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      resumed.once('connect', resolve);
      resumed.once('error', reject);
    });
    assert.equal(connack.sessionPresent, true);
    await eventually(() => got.length >= QUEUED + 1, 20_000, `${QUEUED + 1} queued messages`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(got.length, QUEUED + 1);
    assert.deepEqual(
      got,
      Array.from({ length: QUEUED + 1 }, (_, i) => [`quotes/S${i}`, String(i), 1]),
    );
    await resumed.endAsync();

    const fresh = await connect(url);
    const retained: [string, string, boolean][] = [];
    fresh.on('message', (topic, payload, packet) =>
      retained.push([topic, payload.toString(), packet.retain]),
    );
    await fresh.subscribeAsync(['config/#', '$SYS/broker/retained messages/count'], { qos: 1 });
    await eventually(() => retained.length >= 2, 5_000, 'the retained messages');
    assert.deepEqual(retained.sort(), [
      ['$SYS/broker/retained messages/count', '1', true],
      ['config/interval', '30', true],
    ]);
    await fresh.endAsync();
  } finally {
    await kill9(broker);
  }
});
