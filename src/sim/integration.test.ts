import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { type Scenario, startSimulation, type Truth } from './index.js';
import { startMosquitto as startRestartableMosquitto } from '../../test/helpers/mosquitto.js';
import { type LocalBroker, startMosquitto } from '../../test/helpers/mosquitto-unbounded.js';
import { replayTraffic, type TrafficMessage } from './replay.js';

const DEVICE_TOPIC = /^[0-9A-F]{12}$/;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const SCENARIO: Scenario = {
  faults: [
    { symbol: 'TSLA', latencyMs: 4000 },
    { stream: 'coingecko', drop: 1 },
    { stream: 'finage', error: 'STOCK_ERROR', rate: 0.3 },
    { symbol: 'AAPL', late: 0.5 },
    { stream: 'tradingview', late: 0.2 },
  ],
};

let broker: LocalBroker;
let dir: string;

before(async () => {
  broker = await startMosquitto();
  dir = await mkdtemp(join(tmpdir(), 'tkmprom-sim-it-'));
});

after(async () => {
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Subscribes to everything the simulator publishes, stamping each message on arrival. */
async function capture(): Promise<{ client: MqttClient; messages: TrafficMessage[] }> {
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, clean: true });
  const messages: TrafficMessage[] = [];
  client.on('message', (topic, payload) => {
    messages.push({ t: performance.now(), topic, payload: payload.toString('utf8') });
  });
  await client.subscribeAsync(['+', 'LOG/+', 'ALERT/+', 'FIRMWAREUPDATE/+'], { qos: 0 });
  return { client, messages };
}

async function settle(messages: TrafficMessage[], expected: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (messages.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
}

function totals(truth: Truth) {
  const t = { requests: 0, responses: 0, timeouts: 0, errors: 0, late: 0 };
  for (const o of Object.values(truth.symbols)) {
    t.requests += o.requests;
    t.responses += o.responses;
    t.timeouts += o.timeouts;
    t.errors += o.errors;
    t.late += o.late;
  }
  return t;
}

test('through Mosquitto: every message arrives and the traffic adds up to the truth', {
  timeout: 120_000,
}, async () => {
  const { client, messages } = await capture();
  try {
    const sim = await startSimulation({
      mqttUrl: broker.url,
      devices: 200,
      speed: 30,
      durationMs: 20_000,
      seed: 1,
      scenario: SCENARIO,
    });
    const truth = await sim.done;
    await settle(messages, truth.messages);
    assert.equal(messages.length, truth.messages, 'every published message was received');

    // Counts taken from the traffic alone.
    let requests = 0;
    let symbolLess = 0;
    const named = new Map<string, number>();
    let replies = 0;
    let bootReplies = 0;
    let errorReplies = 0;
    let nonQuoteReplies = 0;
    let nonQuoteBootReplies = 0;
    let cryptoReplies = 0;
    let tslaReplies = 0;
    let logs = 0;
    let silentReboots = 0;
    const bootOpen = new Set<string>();
    const bootSinceHeartbeat = new Set<string>();
    const uptime = new Map<string, number>();
    for (const m of messages) {
      const text = m.payload as string;
      if (m.topic === 'STOCKPRICEUPDATE') {
        requests++;
        const symbol = (JSON.parse(text) as { symbol?: string }).symbol;
        if (symbol === undefined) symbolLess++;
        else named.set(symbol, (named.get(symbol) ?? 0) + 1);
      } else if (m.topic === 'TICKRMETERBOOT') {
        const device = (JSON.parse(text) as { device: string }).device;
        bootOpen.add(device);
        bootSinceHeartbeat.add(device);
      } else if (m.topic.startsWith('LOG/')) {
        logs++;
      } else if (m.topic === 'DEVICESTATUS_RES') {
        const o = JSON.parse(text) as { device: string; uptime: string };
        const prev = uptime.get(o.device);
        if (
          prev !== undefined &&
          Number(o.uptime) < prev &&
          prev < 4_294_000 &&
          !bootSinceHeartbeat.has(o.device)
        ) {
          silentReboots++;
        }
        uptime.set(o.device, Number(o.uptime));
        bootSinceHeartbeat.delete(o.device);
      } else if (DEVICE_TOPIC.test(m.topic)) {
        replies++;
        const o = JSON.parse(text) as { type?: string; symbol?: string; mode?: string; error?: string };
        const boot = bootOpen.delete(m.topic);
        if (boot) bootReplies++;
        const quote = (o.type === 'UPDATE' || o.type === 'NEW') && o.symbol !== undefined;
        if (o.type === 'STOCK_ERROR' || o.type === 'INVALID_FORMAT' || (o.mode === 'page' && o.error))
          errorReplies++;
        if (o.type === 'NO_CONFIG' || o.type === 'DEVICE_REG') {
          nonQuoteReplies++;
          if (boot) nonQuoteBootReplies++;
        }
        if (!boot && quote && o.symbol!.includes('/')) cryptoReplies++;
        if (!boot && quote && o.symbol === 'TSLA') tslaReplies++;
      }
    }

    const t = totals(truth);
    assert.equal(requests, t.requests, 'every request is counted once');
    assert.equal(
      t.requests,
      t.responses + t.errors + t.timeouts + truth.nonQuote,
      'every request has one outcome',
    );
    let symbolLessCharged = 0;
    for (const [symbol, o] of Object.entries(truth.symbols)) {
      const n = named.get(symbol) ?? 0;
      assert.ok(o.requests >= n, `${symbol}: requests naming it are counted under it`);
      symbolLessCharged += o.requests - n;
    }
    assert.equal(symbolLessCharged, symbolLess, 'symbol-less requests are charged to one symbol each');
    assert.equal(replies - bootReplies, t.responses + t.errors + truth.nonQuote + t.late + truth.unmatched);
    assert.equal(errorReplies, t.errors, 'errors are answered in time');
    assert.equal(nonQuoteReplies - nonQuoteBootReplies, truth.nonQuote);
    assert.equal(truth.reboots, logs + silentReboots);
    assert.ok(t.late > 0 && t.late <= t.timeouts, 'late replies are some of the timeouts');
    assert.ok(t.errors > 0 && truth.nonQuote > 0 && truth.reboots > 0, 'the scenario shows every outcome');

    const coingecko = truth.streams.coingecko!;
    assert.ok(coingecko.requests > 0, 'coingecko is asked');
    assert.equal(coingecko.timeouts, coingecko.requests);
    assert.equal(coingecko.responses + coingecko.errors + coingecko.late, 0);
    assert.equal(cryptoReplies, 0, 'the dropped stream never answers');

    const tsla = truth.symbols.TSLA!;
    assert.ok(tsla.responses > 0, 'TSLA answers');
    assert.ok(
      tslaReplies >= tsla.responses && tslaReplies <= tsla.responses + truth.unmatched,
      'TSLA replies',
    );

    // What the documented rules count from this capture, at the times it arrived here.
    assert.deepEqual(replayTraffic(messages), truth);

    const s = sim.stats();
    assert.equal(s.messages, truth.messages);
  } finally {
    await client.endAsync();
  }
});

test('the CLI stops on SIGINT once every request has its outcome and writes the truth', {
  timeout: 60_000,
}, async () => {
  const { client, messages } = await capture();
  const truthPath = join(dir, 'truth.json');
  try {
    const script =
      "const m = await import('./src/cli/simulate.ts'); process.exitCode = await m.simulateCommand(process.argv.slice(1));";
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        '--',
        '--mqtt-url',
        broker.url,
        '--devices',
        '100',
        '--speed',
        '30',
        '--seed',
        '2',
        '--forever',
        '--connections',
        '2',
        '--request-timeout',
        '3s',
        '--late-window',
        '2s',
        '--scenario',
        'demo',
        '--truth',
        truthPath,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!stdout.includes('simulation started') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(stdout.includes('simulation started'), `started: ${stderr}`);
    await new Promise((r) => setTimeout(r, 4000));
    const signalled = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(
      Date.now() - signalled < 3000 + 2000 + 1000 + 3500 + 2000,
      'drained within timeout + late window',
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; messages?: number });
    assert.deepEqual(
      lines.map((l) => l.msg).filter((m) => m !== 'progress'),
      [
        'simulation started',
        'stopping: no new requests; ending once every request has its outcome',
        'simulation finished',
        'truth written',
        'summary',
      ],
    );
    const truth = JSON.parse(await readFile(truthPath, 'utf8')) as Truth;
    assert.equal(lines.at(-1)!.messages, truth.messages);
    await settle(messages, truth.messages);
    assert.equal(messages.length, truth.messages);
    assert.deepEqual(replayTraffic(messages, { timeoutMs: 3000, lateWindowMs: 2000 }), truth);
    const t = totals(truth);
    assert.ok(t.requests > 0, 'devices asked');
    assert.equal(t.requests, t.responses + t.errors + t.timeouts + truth.nonQuote);
  } finally {
    await client.endAsync();
  }
});

test('with reconnect on, a run outlives a broker restart and publishes again once the broker is back', async () => {
  const own = await startRestartableMosquitto();
  const logs: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push(line) });
  const sim = await startSimulation({
    mqttUrl: own.url,
    devices: 200,
    speed: 20,
    seed: 11,
    reconnect: true,
    logger,
  });
  let client: MqttClient | undefined;
  try {
    await own.restart();
    client = await mqtt.connectAsync(own.url, { reconnectPeriod: 0, clean: true });
    let after = 0;
    client.on('message', () => after++);
    await client.subscribeAsync(['+'], { qos: 0 });
    const deadline = Date.now() + 10_000;
    while (after < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(after >= 100, `messages after the restart: ${after}`);
    const lost = logs.filter((l) => l.includes('MQTT connection lost: reconnecting')).length;
    const back = logs.filter((l) => l.includes('MQTT connection back')).length;
    assert.deepEqual([lost, back], [1, 1]);
  } finally {
    await client?.endAsync();
    await sim.stop({ immediate: true });
    await own.stop();
  }
});
