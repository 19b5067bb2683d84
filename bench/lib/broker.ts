import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnTracked, stopChild, waitForPort } from './procs.js';

export interface Broker {
  port: number;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const MOSQUITTO = '/usr/sbin/mosquitto';

/**
 * A private Mosquitto on a free loopback port. QoS 0 messages to a subscriber whose queue holds
 * `max_queued_messages` are dropped, as a production broker would: a subscriber that cannot keep
 * up shows as loss, not as an ever-growing queue.
 */
export async function startBroker(): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 1000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const child = spawnTracked(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, 5000);
  } catch (err) {
    await stopChild(child);
    throw new Error(`mosquitto did not start: ${(err as Error).message}\n${stderr}`);
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}
