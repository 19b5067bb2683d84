import mqtt, { type MqttClient } from 'mqtt';
import { startExporter, type RunningExporter } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { eventually, freePort } from './mosquitto.js';
import { seriesValue } from './series.js';

/** An exporter in this process, on a free port, reading `mqttUrl`. */
export async function exporterFor(
  mqttUrl: string,
  flags: Record<string, string> = {},
  tweak: (c: Config) => void = () => {},
): Promise<RunningExporter> {
  const port = await freePort();
  const config = loadConfig({ flags: { 'mqtt-url': mqttUrl, listen: `127.0.0.1:${port}`, ...flags } });
  config.mqtt.reconnectMin = 100;
  config.mqtt.reconnectMax = 400;
  tweak(config);
  const running = await startExporter(config, silentLogger());
  await eventually(
    () => seriesValue(running.exporter.registry, 'tkmprom_mqtt_connected') === 1,
    5000,
    'the exporter to subscribe',
  );
  return running;
}

export async function publisher(url: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: `test-pub-${Math.random().toString(16).slice(2)}` });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

export function publish(client: MqttClient, topic: string, payload: string | Buffer | object): Promise<void> {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  return new Promise((resolve, reject) =>
    client.publish(topic, body, { qos: 0 }, (err) => (err ? reject(err) : resolve())),
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ExporterProcess {
  url: string;
  child: import('node:child_process').ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

/**
 * The exporter as a user runs it: its own process, started from the sources with tsx (the
 * built CLI is exercised by test/cli.test.ts).
 */
export async function spawnExporter(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  /** Called at every look at `/readyz` while it is awaited, with the exporter's URL. */
  probe?: (url: string) => Promise<void>,
): Promise<ExporterProcess> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', ...args, '--listen', `127.0.0.1:${port}`],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${err}`);
      await probe?.(url);
      return fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    20_000,
    'the exporter process to be ready',
  );
  return {
    url,
    child,
    stdout: () => out,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', (code) => {
          clearTimeout(kill);
          resolve(code);
        });
        child.kill('SIGTERM');
      }),
  };
}
