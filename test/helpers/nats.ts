import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsServerConfig } from '../../src/config/index.js';
import { freePort, waitForPort } from './mosquitto.js';

export const NATS_TEST_PASSWORD = 'test-secret';

export interface NatsServer {
  /** nats://tkmprom:...@127.0.0.1:port, the exporter's and keyer's account. */
  url: string;
  port: number;
  mqttUrl: string;
  mqttPort: number;
  dir: string;
  /** SIGTERM and wait; the store stays for a restart. */
  stop(): Promise<void>;
  /** Stops (SIGTERM, or SIGKILL as a crash) and starts again on the same ports and store. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it and removes its store. */
  destroy(): Promise<void>;
}

const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

/**
 * A private nats-server on free loopback ports, configured by `tkmprom nats-config`'s own
 * generator with `partitions` partitions.
 */
export async function startNatsServer(partitions: number): Promise<NatsServer> {
  const port = await freePort();
  const mqttPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-nats-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    natsServerConfig({
      partitions,
      listen: { host: '127.0.0.1', port },
      mqttListen: { host: '127.0.0.1', port: mqttPort },
      storeDir: join(dir, 'store'),
      password: NATS_TEST_PASSWORD,
    }),
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    stderr = '';
    const c = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    try {
      await waitForPort(port, 10_000);
      await waitForPort(mqttPort, 10_000);
    } catch (err) {
      throw new Error(`nats-server did not start: ${(err as Error).message}\n${stderr}`);
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  await start();
  return {
    url: `nats://tkmprom:${NATS_TEST_PASSWORD}@127.0.0.1:${port}`,
    port,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    mqttPort,
    dir,
    stop: () => stop(),
    async restart(signal) {
      await stop(signal);
      await start();
    },
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
