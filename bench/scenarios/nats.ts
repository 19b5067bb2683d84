import { startBroker } from '../lib/broker.js';
import { type Ctx, STANDARD } from '../lib/context.js';
import { CLI, type ExporterProcess, startExporterProcess } from '../lib/exporter.js';
import { Feed } from '../lib/feed.js';
import { NoiseMeter, type Noise } from '../lib/measure.js';
import { NATS_BENCH_PASSWORD, startNats } from '../lib/nats.js';
import { cpuSeconds, sleep, spawnTracked, stopChild, until } from '../lib/procs.js';

/** CPU seconds of one window, by part; the broker is nats-server or Mosquitto. */
export interface NatsCpu {
  exporters: number;
  keyer: number;
  broker: number;
}

export interface NatsRun {
  /** Exporter instances (partitions); 0 for the single exporter reading Mosquitto. */
  instances: number;
  /** Offered by the generator, msg/s. */
  offeredRate: number;
  sent: number;
  counted: number;
  lost: number;
  /** From the first message offered to the last counted, less the exporters' reorder window. */
  seconds: number;
  /** Messages counted per second of `seconds`. */
  throughput: number;
  cpu: NatsCpu;
  /** CPU µs per message, by part and in all. */
  usPerMessage: NatsCpu & { total: number };
  noise: Noise;
}

export interface NatsResult {
  /** 10,000 msg/s offered: the cost per message (on 2 shared cores the NATS setups fall a little behind). */
  steady: NatsRun[];
  /** 40,000 msg/s offered, more than any setup keeps up with here: what each reads per second. */
  ceiling: NatsRun[];
}

const REORDER_WINDOW_S = 0.5;

interface Setup {
  exporters: ExporterProcess[];
  keyerPid?: number;
  brokerPid?: number;
  feed: Feed;
  stop(): Promise<void>;
}

/** nats-server, one keyer and n exporters, the generator connected to nats-server's MQTT listener. */
async function natsSetup(
  ctx: Ctx,
  n: number,
  script: Awaited<ReturnType<Ctx['gen']['script']>>,
): Promise<Setup> {
  const nats = await startNats(n);
  process.env.TKMPROM_NATS_PASSWORD = NATS_BENCH_PASSWORD;
  const keyer = spawnTracked(
    process.execPath,
    [CLI, 'keyer', '--nats-url', nats.url, '--partitions', String(n), '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exporters: ExporterProcess[] = [];
  try {
    // The keyer creates the stream; the exporters find it.
    await sleep(1500);
    for (let k = 0; k < n; k++)
      exporters.push(
        await startExporterProcess('mqtt://127.0.0.1:1', [
          '--nats-url',
          nats.url,
          '--partition',
          `${k}/${n}`,
        ]),
      );
    const conn = `nats-${n}`;
    await ctx.gen.connect(conn, nats.mqttPort);
    return {
      exporters,
      keyerPid: keyer.pid!,
      brokerPid: nats.pid,
      feed: new Feed(ctx.gen, conn, script),
      async stop() {
        for (const e of exporters) await e.stop();
        await stopChild(keyer);
        await nats.stop();
      },
    };
  } catch (err) {
    for (const e of exporters) await e.stop();
    await stopChild(keyer);
    await nats.stop();
    throw err;
  }
}

/** The single exporter reading Mosquitto, for the same windows beside it. */
async function mqttSetup(ctx: Ctx, script: Awaited<ReturnType<Ctx['gen']['script']>>): Promise<Setup> {
  const broker = await startBroker();
  const exporter = await startExporterProcess(broker.url);
  await ctx.gen.connect('nats-mqtt', broker.port);
  return {
    exporters: [exporter],
    brokerPid: broker.pid,
    feed: new Feed(ctx.gen, 'nats-mqtt', script),
    async stop() {
      await exporter.stop();
      await broker.stop();
    },
  };
}

async function counted(s: Setup): Promise<number> {
  let n = 0;
  for (const e of s.exporters) n += await e.messages();
  return n;
}

function cpuOf(s: Setup): NatsCpu {
  return {
    exporters: s.exporters.reduce((t, e) => t + cpuSeconds(e.pid), 0),
    keyer: s.keyerPid === undefined ? 0 : cpuSeconds(s.keyerPid),
    broker: s.brokerPid === undefined ? 0 : cpuSeconds(s.brokerPid),
  };
}

/** Offers `rate` for `seconds`, then waits until the exporters have counted all of it (or stop counting). */
async function window(
  ctx: Ctx,
  s: Setup,
  instances: number,
  rate: number,
  seconds: number,
): Promise<NatsRun> {
  const c0 = await counted(s);
  const cpu0 = cpuOf(s);
  const noise = new NoiseMeter();
  noise.start([
    ctx.gen.pid,
    ...s.exporters.map((e) => e.pid),
    ...[s.keyerPid, s.brokerPid].filter((p) => p !== undefined),
  ]);
  const t0 = performance.now();
  const d = await s.feed.play(rate, rate * seconds);
  let last = -1;
  let lastChange = performance.now();
  let tEnd = lastChange;
  let now = c0;
  await until(
    async () => {
      now = await counted(s);
      const t = performance.now();
      if (now !== last) {
        last = now;
        lastChange = t;
        tEnd = t;
      }
      return now - c0 >= d.sent || t - lastChange > 3000;
    },
    120_000,
    50,
  );
  const n = noise.stop();
  const cpu1 = cpuOf(s);
  const got = now - c0;
  const wall = (tEnd - t0) / 1000 - (instances > 0 ? REORDER_WINDOW_S : 0);
  const cpu = {
    exporters: cpu1.exporters - cpu0.exporters,
    keyer: cpu1.keyer - cpu0.keyer,
    broker: cpu1.broker - cpu0.broker,
  };
  const us = (x: number) => (x / Math.max(1, got)) * 1e6;
  const run: NatsRun = {
    instances,
    offeredRate: rate,
    sent: d.sent,
    counted: got,
    lost: d.sent - got,
    seconds: wall,
    throughput: got / wall,
    cpu,
    usPerMessage: {
      exporters: us(cpu.exporters),
      keyer: us(cpu.keyer),
      broker: us(cpu.broker),
      total: us(cpu.exporters + cpu.keyer + cpu.broker),
    },
    noise: n,
  };
  const who =
    instances === 0
      ? 'MQTT (Mosquitto), 1 exporter'
      : `NATS, ${instances} exporter${instances > 1 ? 's' : ''}`;
  ctx.log(
    `  ${who} at ${rate.toLocaleString('en')} msg/s offered: ${Math.round(run.throughput).toLocaleString('en')} msg/s read, lost ${run.lost}; µs of CPU per message: exporters ${run.usPerMessage.exporters.toFixed(1)}, keyer ${run.usPerMessage.keyer.toFixed(1)}, broker ${run.usPerMessage.broker.toFixed(1)}, in all ${run.usPerMessage.total.toFixed(1)}; other load ${n.foreignCores.toFixed(2)} cores`,
  );
  return run;
}

/**
 * The fleet through nats-server: 1, 2 and 3 exporters (partitions) with one keyer, beside the single
 * exporter reading Mosquitto, each fed today's fleet (8,000 devices, 3,400 symbols) by the
 * generator over MQTT. Two windows each: 10,000 msg/s, for the CPU per message of each part; and
 * 40,000 msg/s offered, for what each reads per second at most (the stream holds the rest). On
 * this 2-core machine the parts share two cores, so the ceiling says what the whole pipeline does
 * on two cores, not what more machines would.
 */
export async function natsScenario(ctx: Ctx): Promise<NatsResult> {
  const steadyRate = 10_000;
  const ceilingRate = 40_000;
  const seconds = ctx.quick ? 3 : 10;
  const script = await ctx.gen.script('std-nats', { ...STANDARD, rate: steadyRate });
  const result: NatsResult = { steady: [], ceiling: [] };
  for (const instances of [0, 1, 2, 3]) {
    ctx.checkTime(`nats with ${instances} instances`);
    const s = instances === 0 ? await mqttSetup(ctx, script) : await natsSetup(ctx, instances, script);
    try {
      // Every device heard once, then a pause: the windows measure the steady state.
      await s.feed.pass(5000);
      await until(async () => (await counted(s)) >= s.feed.sent, 30_000, 100);
      await sleep(1000);
      result.steady.push(await window(ctx, s, instances, steadyRate, seconds));
      await sleep(1000);
      result.ceiling.push(await window(ctx, s, instances, ceilingRate, seconds));
    } finally {
      await s.stop();
    }
  }
  return result;
}
