import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ctx } from '../lib/context.js';
import { CLI } from '../lib/exporter.js';
import {
  cpuSeconds,
  forkTracked,
  freePort,
  spawnTracked,
  stopChild,
  until,
  waitForPort,
} from '../lib/procs.js';

export type BrokerName = 'tkmprom' | 'mosquitto';

export interface RelayRun {
  broker: BrokerName;
  subscribers: number;
  published: number;
  /** Deliveries counted by the subscribers, over all of them. */
  delivered: number;
  lost: number;
  /** Messages each subscriber received per second: deliveries / subscribers / time from first to last. */
  msgsPerSecond: number;
  /** Deliveries per second over every subscriber. */
  deliveriesPerSecond: number;
  /** The broker's CPU over the run, % of one core: near 100 means the broker was the limit. */
  brokerCpuPct: number;
}

export interface BrokerResult {
  payloadBytes: number;
  runs: RelayRun[];
  /** tkmprom broker / Mosquitto, one publisher to one subscriber (best of the runs of each). */
  ratio: number;
}

const MOSQUITTO = '/usr/sbin/mosquitto';
const TOPIC = '0123456789ab';
const PAYLOAD_BYTES = 120;
/**
 * Extra node flags for the broker, to profile it where the figures are taken:
 * `TKMPROM_BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only broker`.
 */
const NODE_ARGS = (process.env.TKMPROM_BENCH_BROKER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');

interface Running {
  name: BrokerName;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** A private Mosquitto whose queues are as unbounded as aedes', so neither broker drops QoS 0. */
async function mosquitto(): Promise<Running> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-bench-relay-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 100000000',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'),
  );
  const child = spawnTracked(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 5000);
  return { name: 'mosquitto', port, pid: child.pid!, stop: () => stopChild(child) };
}

/** `tkmprom broker` from the benchmark's build, in memory, no $SYS topics. */
async function tkmprom(): Promise<Running> {
  const port = await freePort();
  const child = spawnTracked(
    process.execPath,
    [
      ...NODE_ARGS,
      CLI,
      ...['broker', '--listen', `127.0.0.1:${port}`, '--sys-interval', '0s', '--log-level', 'warn'],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPort(port, 20_000);
  return { name: 'tkmprom', port, pid: child.pid!, stop: () => stopChild(child, 10_000) };
}

interface ClientMessage {
  op: string;
  count?: number;
  ms?: number;
}

const CLIENT = fileURLToPath(new URL('../relay-client.ts', import.meta.url));

function client(args: string[]): {
  child: ChildProcess;
  next: (op: string, timeoutMs: number) => Promise<ClientMessage>;
} {
  const child = forkTracked(CLIENT, args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: ClientMessage[] = [];
  child.on('message', (m) => inbox.push(m as ClientMessage));
  const next = async (op: string, timeoutMs: number) => {
    const ok = await until(() => inbox.some((m) => m.op === op) || child.exitCode !== null, timeoutMs, 5);
    const i = inbox.findIndex((m) => m.op === op);
    if (!ok || i < 0) throw new Error(`relay client ${args[0]}: no ${op} within ${timeoutMs} ms`);
    return inbox.splice(i, 1)[0]!;
  };
  return { child, next };
}

async function relay(ctx: Ctx, b: Running, subscribers: number, published: number): Promise<RelayRun> {
  const sub = client(['sub', String(b.port), String(subscribers), TOPIC]);
  const pub = client(['pub', String(b.port), String(published), TOPIC, String(PAYLOAD_BYTES)]);
  try {
    await sub.next('ready', 60_000);
    await pub.next('ready', 10_000);
    const cpu0 = cpuSeconds(b.pid);
    const t0 = performance.now();
    pub.child.send({ op: 'go' });
    await pub.next('done', 120_000);
    const expected = published * subscribers;
    let last: ClientMessage = { op: 'count', count: -1, ms: 0 };
    let stableSince = performance.now();
    for (;;) {
      sub.child.send({ op: 'count' });
      const c = await sub.next('count', 5000);
      c.count ??= 0;
      const now = performance.now();
      if (c.count !== last.count) stableSince = now;
      last = c;
      // Done when all arrived, or nothing more came for 1 s (5 s before the first delivery).
      const stallMs = c.count! > 0 ? 1000 : 5000;
      if (c.count! >= expected || now - stableSince > stallMs || now - t0 > 120_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const cpu1 = cpuSeconds(b.pid);
    const wall = (performance.now() - t0) / 1000;
    const seconds = (last.ms ?? 0) / 1000;
    const delivered = last.count ?? 0;
    const run: RelayRun = {
      broker: b.name,
      subscribers,
      published,
      delivered,
      lost: expected - delivered,
      msgsPerSecond: delivered / subscribers / seconds,
      deliveriesPerSecond: delivered / seconds,
      brokerCpuPct: ((cpu1 - cpu0) / wall) * 100,
    };
    ctx.log(
      `  broker ${b.name.padEnd(9)} ${String(subscribers).padStart(4)} sub: ${Math.round(run.msgsPerSecond)} msg/s per subscriber, ${Math.round(run.deliveriesPerSecond)} deliveries/s, lost ${run.lost}, broker ${run.brokerCpuPct.toFixed(0)} % cpu`,
    );
    return run;
  } finally {
    await Promise.all([stopChild(sub.child), stopChild(pub.child)]);
  }
}

/**
 * QoS 0 relay through `tkmprom broker` and a private Mosquitto in the same run: one raw-frame
 * publisher as fast as the broker takes it, to 1, 10, 100 and 1,000 bare subscribers. The two
 * brokers take turns at each size, so both share the machine's noise.
 */
export async function brokerRelay(ctx: Ctx): Promise<BrokerResult> {
  const q = ctx.quick;
  const deliveries = q ? 200_000 : 600_000;
  const repeats = q ? 1 : 2;
  const brokers = [await tkmprom(), await mosquitto()];
  const runs: RelayRun[] = [];
  try {
    for (const subscribers of [1, 10, 100, 1000]) {
      const published = Math.max(200, Math.round(deliveries / subscribers));
      for (let r = 0; r < repeats; r++) {
        const order = r % 2 === 0 ? brokers : [...brokers].reverse();
        for (const b of order) {
          ctx.checkTime(`broker relay ${b.name} to ${subscribers}`);
          runs.push(await relay(ctx, b, subscribers, published));
        }
      }
    }
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
  }
  const best = (name: BrokerName) =>
    Math.max(
      ...runs
        .filter((r) => r.broker === name && r.subscribers === 1 && Number.isFinite(r.msgsPerSecond))
        .map((r) => r.msgsPerSecond),
    );
  return { payloadBytes: PAYLOAD_BYTES, runs, ratio: best('tkmprom') / best('mosquitto') };
}
