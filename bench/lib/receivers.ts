import type { ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SUBSCRIPTIONS } from '../../src/protocol/index.js';
import { type ExporterProcess, startExporterProcess } from './exporter.js';
import { bytesWritten, forkTracked, spawnTracked, stopChild, until } from './procs.js';

export type ReceiverName = 'exporter' | 'mqttjs' | 'mosquitto_sub';

/** One subscriber of the benchmark stream, observed from outside its process. */
export interface Receiver {
  readonly name: ReceiverName;
  readonly pid: number;
  /** Messages received since it subscribed (authoritative, may cost the receiver a little). */
  count(): Promise<number>;
  /** Bytes it has read from sockets so far: a free progress signal while waiting for a drain. */
  bytesIn(): number;
  stop(): Promise<void>;
}

/**
 * The receiver's count once nothing more is arriving: two reads 50 ms apart that agree. Taken at
 * the start of a window, it keeps messages of the window before (an exporter may hold a batch
 * for up to its `mqtt.batchWindow`) from being counted in this one. Gives up after 2 s.
 */
export async function settledCount(r: Receiver): Promise<number> {
  let last = await r.count();
  const deadline = performance.now() + 2000;
  while (performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await r.count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** Bytes read through read(2), which is how libuv and libmosquitto take data off a socket. */
export function bytesRead(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const m = /^rchar:\s+(\d+)/m.exec(io);
  return m ? Number(m[1]) : Number.NaN;
}

export async function exporterReceiver(
  brokerUrl: string,
  extraArgs: string[] = [],
  cli?: string,
): Promise<Receiver & { proc: ExporterProcess }> {
  const proc = await startExporterProcess(brokerUrl, extraArgs, cli);
  return {
    name: 'exporter',
    pid: proc.pid,
    proc,
    count: () => proc.messages(),
    bytesIn: () => bytesRead(proc.pid),
    stop: () => proc.stop(),
  };
}

export async function mqttjsReceiver(brokerUrl: string): Promise<Receiver> {
  const child: ChildProcess = forkTracked(
    fileURLToPath(new URL('../ref-subscriber.ts', import.meta.url)),
    [brokerUrl],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  let last = 0;
  const pending: Array<(n: number) => void> = [];
  let ready = false;
  child.on('message', (m: { op: string; count?: number }) => {
    if (m.op === 'ready') ready = true;
    if (m.op === 'count') {
      last = m.count!;
      pending.shift()?.(last);
    }
  });
  if (!(await until(() => ready, 15_000))) {
    await stopChild(child);
    throw new Error('the MQTT.js reference subscriber did not subscribe within 15 s');
  }
  return {
    name: 'mqttjs',
    pid: child.pid!,
    count: () =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('mqttjs reference: no count within 5 s')), 5000);
        pending.push((n) => {
          clearTimeout(timer);
          resolve(n);
        });
        child.send({ op: 'count' });
      }),
    bytesIn: () => bytesRead(child.pid!),
    stop: () => stopChild(child),
  };
}

/**
 * mosquitto_sub with its output on /dev/null, printing one byte and a newline per message so that
 * the bytes it has written (/proc/<pid>/io) count its messages without a pipe to read.
 */
export async function mosquittoSubReceiver(port: number, probe: () => Promise<void>): Promise<Receiver> {
  const topics = SUBSCRIPTIONS.flatMap((t) => ['-t', t]);
  const devnull = openSync('/dev/null', 'w');
  const child = spawnTracked(
    'mosquitto_sub',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-q',
      '0',
      '-k',
      '30',
      '-i',
      `bench-sub-${process.pid}`,
      '-F',
      'x',
      ...topics,
    ],
    { stdio: ['ignore', devnull, 'pipe'] },
  );
  let stderr = '';
  let stderrBytes = 0;
  child.stderr?.on('data', (d: Buffer) => {
    stderrBytes += d.length;
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const pid = child.pid!;
  // Its stderr writes count in wchar too; they are read here, so they can be taken off.
  const messages = () => Math.floor((bytesWritten(pid) - stderrBytes) / 2);
  // Subscribed once a probe message comes back through it.
  const ok = await until(
    async () => {
      if (child.exitCode !== null) return true;
      await probe();
      return messages() > 0;
    },
    10_000,
    200,
  );
  if (!ok || child.exitCode !== null) {
    await stopChild(child);
    throw new Error(`mosquitto_sub did not start receiving: ${stderr}`);
  }
  return {
    name: 'mosquitto_sub',
    pid,
    count: async () => messages(),
    bytesIn: () => bytesRead(pid),
    stop: () => stopChild(child),
  };
}
