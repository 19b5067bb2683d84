/**
 * Throughput of one simulator process against a local Mosquitto:
 *
 *   node --import tsx src/sim/throughput.bench.ts [--devices N] [--speed X] [--seconds S] [--connections N]
 *
 * Runs the fleet for S seconds (default 10), stops at once, and prints the simulator's publish
 * rate and, from a subscriber in a separate process, how many messages the broker delivered.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { silentLogger } from '../log.js';
import { startSimulation } from './index.js';
import { startMosquitto } from '../../test/helpers/mosquitto-unbounded.js';

async function subscriberMain(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clean: true });
  let count = 0;
  client.on('message', () => {
    count++;
  });
  await client.subscribeAsync(['+', 'LOG/+', 'ALERT/+', 'FIRMWAREUPDATE/+'], { qos: 0 });
  process.send?.({ ready: true });
  process.on('message', async (m: { report?: boolean }) => {
    if (m.report) {
      process.send?.({ count });
      await client.endAsync();
      process.exit(0);
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '50000' },
      speed: { type: 'string', default: '30' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '1' },
      subscriber: { type: 'string' },
    },
  });
  if (values.subscriber) return subscriberMain(values.subscriber);

  const broker = await startMosquitto();
  const sub = fork(fileURLToPath(import.meta.url), ['--subscriber', broker.url], {
    execArgv: ['--import', 'tsx'],
  });
  await new Promise<void>((resolve) => sub.once('message', () => resolve()));
  const devices = Number(values.devices);
  const speed = Number(values.speed);
  const seconds = Number(values.seconds);
  const startedBuild = performance.now();
  const sim = await startSimulation({
    mqttUrl: broker.url,
    devices,
    speed,
    seed: 1,
    connections: Number(values.connections),
    logger: silentLogger(),
  });
  const buildMs = performance.now() - startedBuild;
  const samples: number[] = [];
  let last = 0;
  const timer = setInterval(() => {
    const m = sim.stats().messages;
    samples.push(m - last);
    last = m;
  }, 1000);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  const truth = await sim.stop({ immediate: true });
  const s = sim.stats();
  await new Promise((r) => setTimeout(r, 2000));
  const received = await new Promise<number>((resolve) => {
    sub.once('message', (m: { count: number }) => resolve(m.count));
    sub.send({ report: true });
  });
  await broker.stop();
  const steady = samples.slice(2);
  console.log(
    JSON.stringify(
      {
        devices,
        speed,
        seconds: Math.round(s.elapsedMs) / 1000,
        startupMs: Math.round(buildMs),
        messages: truth.messages,
        perSecond: Math.round(s.perSecond),
        steadyPerSecond: steady.length ? Math.round(steady.reduce((a, b) => a + b, 0) / steady.length) : null,
        perSecondSamples: samples,
        worstLagMs: Math.round(s.worstLagMs),
        subscriberReceived: received,
        lost: truth.messages - received,
      },
      null,
      2,
    ),
  );
}

await main();
