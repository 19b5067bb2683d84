import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LocalBroker {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** A free loopback port: bound to port 0, then released for the broker to take. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts a private Mosquitto on a free loopback port, with no limit on queued messages so that a
 * slow subscriber delays messages instead of losing them.
 */
export async function startMosquitto(binary = '/usr/sbin/mosquitto'): Promise<LocalBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'tkmprom-mosquitto-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    await writeFile(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 0',
        'set_tcp_nodelay true',
        'log_dest none',
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-c', conf], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if (await accepts(port)) {
        up = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    if (up) {
      return {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        async stop() {
          child.kill('SIGTERM');
          if (!(await waitExit(child, 3000))) child.kill('SIGKILL');
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await waitExit(child, 1000);
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error('could not start mosquitto on a free port');
}
