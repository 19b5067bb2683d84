import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsServerConfig } from '../../src/config/index.js';
import { freePort, spawnTracked, stopChild, waitForPort } from './procs.js';

export const NATS_BENCH_PASSWORD = 'bench-secret';
const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

export interface NatsBroker {
  /** nats://127.0.0.1:port; the user is tkmprom, its password NATS_BENCH_PASSWORD. */
  url: string;
  mqttPort: number;
  pid: number;
  stop(): Promise<void>;
}

/** A private nats-server configured by `tkmprom nats-config` for `partitions`, its store in a temporary directory. */
export async function startNats(partitions: number): Promise<NatsBroker> {
  const port = await freePort();
  const mqttPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-bench-nats-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    natsServerConfig({
      partitions,
      listen: { host: '127.0.0.1', port },
      mqttListen: { host: '127.0.0.1', port: mqttPort },
      storeDir: join(dir, 'store'),
      password: NATS_BENCH_PASSWORD,
    }),
  );
  const child = spawnTracked(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, 10_000);
    await waitForPort(mqttPort, 10_000);
  } catch (err) {
    await stopChild(child);
    throw new Error(`nats-server did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    mqttPort,
    pid: child.pid!,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
