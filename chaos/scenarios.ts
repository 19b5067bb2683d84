import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { DISCONNECT_FRAME, publishFrame, rawConnect } from '../bench/lib/frames.js';
import { REQUEST_TOPIC, requestPayload } from '../src/protocol/index.js';
import {
  decreased,
  Mosquitto,
  type Row,
  row,
  rssMb,
  type Samples,
  scrape,
  sleep,
  status,
  Tkmprom,
  total,
  until,
} from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Scale {
  /** Full figures (`npm run chaos`) or a short check that the harness works (`--quick`). */
  quick: boolean;
}

/** About 1,000 msg/s from the simulator: 2,000 devices at 10x. */
const FLEET_1K = ['--devices', '2000', '--speed', '10', '--forever', '--seed', '42'];

async function rate(url: string, ms: number): Promise<number> {
  const a = total(await scrape(url), 'tkmprom_messages_total');
  await sleep(ms);
  return ((total(await scrape(url), 'tkmprom_messages_total') - a) * 1000) / ms;
}

/** Watches every counter of an exporter across scrapes: none may ever decrease. */
class Monotonic {
  private last: Samples | undefined;
  readonly violations: string[] = [];
  async check(url: string): Promise<Samples> {
    const s = await scrape(url);
    if (this.last !== undefined) this.violations.push(...decreased(this.last, s));
    this.last = s;
    return s;
  }
}

export async function brokerRestarts(scale: Scale): Promise<Row[]> {
  const name = 'Mosquitto killed and restarted under 1,000 msg/s';
  const restarts = scale.quick ? 3 : 20;
  const mq = await Mosquitto.start();
  const exp = await Tkmprom.exporter(['--mqtt-url', mq.url]);
  const sim = await Tkmprom.simulator(['--mqtt-url', mq.url, ...FLEET_1K]);
  try {
    await until(async () => total(await scrape(exp.url), 'tkmprom_messages_total') > 5_000, 60_000, 500);
    const msgRate = await rate(exp.url, 5_000);
    const mono = new Monotonic();
    await mono.check(exp.url);
    const reconnectMs: number[] = [];
    for (let i = 0; i < restarts; i++) {
      await sleep(3_000);
      await mono.check(exp.url);
      const reconnectsBefore = total(await scrape(exp.url), 'tkmprom_mqtt_reconnects_total');
      await mq.kill();
      await sleep(1_000);
      await mq.up();
      const back = Date.now();
      await until(
        async () => {
          const s = await scrape(exp.url);
          return (
            total(s, 'tkmprom_mqtt_connected') === 1 &&
            total(s, 'tkmprom_mqtt_reconnects_total') > reconnectsBefore
          );
        },
        30_000,
        25,
      );
      reconnectMs.push(Date.now() - back);
    }
    // Every request seen before the last restart has its outcome within the timeout.
    await sleep(12_000);
    const end = await mono.check(exp.url);
    const worst = Math.max(...reconnectMs);
    return [
      row(name, 'message rate before the first restart', `${Math.round(msgRate)} msg/s`, msgRate >= 700),
      row(
        name,
        `reconnected and resubscribed within 2 s of the broker, ${restarts} times`,
        `worst ${worst} ms, median ${median(reconnectMs)} ms`,
        worst <= 2_000,
      ),
      row(
        name,
        'timeouts (the simulated backend answers every request)',
        total(end, 'tickrmeter_stock_update_timeout_total'),
        total(end, 'tickrmeter_stock_update_timeout_total') === 0,
      ),
      row(
        name,
        'requests pending at a drop counted as interrupted',
        total(end, 'tickrmeter_stock_update_interrupted_total'),
        total(end, 'tickrmeter_stock_update_interrupted_total') > 0,
      ),
      row(
        name,
        'counter samples that went down between scrapes',
        mono.violations.length,
        mono.violations.length === 0,
      ),
    ];
  } finally {
    await sim.stop(2_000);
    await exp.stop();
    await mq.stop();
  }
}

export async function brokerFrozen(scale: Scale): Promise<Row[]> {
  const name = `Mosquitto frozen (SIGSTOP) for ${scale.quick ? 20 : 90} s under 1,000 msg/s`;
  const mq = await Mosquitto.start();
  const exp = await Tkmprom.exporter(['--mqtt-url', mq.url]);
  const sim = await Tkmprom.simulator(['--mqtt-url', mq.url, ...FLEET_1K]);
  try {
    await until(async () => total(await scrape(exp.url), 'tkmprom_messages_total') > 5_000, 60_000, 500);
    await sleep(5_000);
    mq.freeze();
    const frozeAt = Date.now();
    let notReadyAfterMs = -1;
    await until(
      async () => {
        if ((await status(`${exp.url}/readyz`)) === 503) {
          notReadyAfterMs = Date.now() - frozeAt;
          return true;
        }
        return false;
      },
      70_000,
      100,
    );
    await sleep((scale.quick ? 20_000 : 90_000) - (Date.now() - frozeAt));
    mq.thaw();
    const thawedAt = Date.now();
    await until(async () => (await status(`${exp.url}/readyz`)) === 200, 60_000, 50);
    const readyAgainMs = Date.now() - thawedAt;
    await sleep(12_000);
    const end = await scrape(exp.url);
    const timeouts = total(end, 'tickrmeter_stock_update_timeout_total');
    return [
      row(
        name,
        'noticed: /readyz 503 after the freeze began',
        `${notReadyAfterMs} ms`,
        notReadyAfterMs >= 0 && notReadyAfterMs <= 15_000,
      ),
      row(
        name,
        'silences counted',
        total(end, 'tkmprom_mqtt_silences_total'),
        total(end, 'tkmprom_mqtt_silences_total') >= 1,
      ),
      row(name, 'ready again after the broker continued', `${readyAgainMs} ms`, readyAgainMs <= 5_000),
      row(name, 'false timeouts', timeouts, timeouts === 0),
      row(
        name,
        'requests pending at the silence counted as interrupted',
        total(end, 'tickrmeter_stock_update_interrupted_total'),
        total(end, 'tickrmeter_stock_update_interrupted_total') > 0,
      ),
    ];
  } finally {
    mq.thaw();
    await sim.stop(2_000);
    await exp.stop();
    await mq.stop();
  }
}

export async function exporterKilled(_scale: Scale): Promise<Row[]> {
  const name = 'exporter killed with -9 and started on its state dir';
  const mq = await Mosquitto.start();
  const stateDir = mkdtempSync(join(tmpdir(), 'tkmprom-chaos-state-'));
  const args = ['--mqtt-url', mq.url, '--state-dir', stateDir, '--state-interval', '2s'];
  let exp = await Tkmprom.exporter(args);
  const sim = await Tkmprom.simulator(['--mqtt-url', mq.url, ...FLEET_1K]);
  try {
    await until(async () => total(await scrape(exp.url), 'tickrmeter_devices_online') >= 1_900, 90_000, 500);
    await sleep(5_000);
    const before = await scrape(exp.url);
    const online = total(before, 'tickrmeter_devices_online');
    const p95Series = [...before.keys()].filter((k) =>
      k.startsWith('tickrmeter_stock_update_p95_latency_seconds{'),
    ).length;
    await exp.kill9();
    exp = await Tkmprom.exporter(args);
    const started = Date.now();
    let back = -1;
    await until(
      async () => {
        const s = await scrape(exp.url);
        const p95 = [...s.keys()].filter((k) =>
          k.startsWith('tickrmeter_stock_update_p95_latency_seconds{'),
        ).length;
        if (total(s, 'tickrmeter_devices_online') >= online * 0.95 && p95 >= p95Series * 0.95) {
          back = Date.now() - started;
          return true;
        }
        return false;
      },
      20_000,
      100,
    );
    const after = await scrape(exp.url);
    return [
      row(name, 'devices online before the kill', online, online >= 1_900),
      row(
        name,
        'online devices and per-symbol p95 gauges back (95 %) after the restart',
        back < 0 ? 'not within 20 s' : `${back} ms`,
        back >= 0 && back <= 5_000,
      ),
      row(
        name,
        'per-symbol p95 series before / after',
        `${p95Series} / ${[...after.keys()].filter((k) => k.startsWith('tickrmeter_stock_update_p95_latency_seconds{')).length}`,
        true,
      ),
    ];
  } finally {
    await sim.stop(2_000);
    await exp.stop();
    await mq.stop();
  }
}

/**
 * The embedded broker with a data dir, killed with -9 while a persistent session is away: the
 * retained message and every QoS 1 message queued for the session must be there after a restart.
 */
export async function brokerKilled(scale: Scale): Promise<Row[]> {
  const name = 'embedded broker killed with -9 and started on its data dir';
  const queued = scale.quick ? 50 : 1_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'tkmprom-chaos-broker-'));
  let broker = await Tkmprom.broker(['--data-dir', dataDir]);
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const session = {
    clientId: 'chaos-session',
    clean: false,
    protocolVersion: 4 as const,
    reconnectPeriod: 0,
  };
  try {
    const sub = await mqtt.connectAsync(url, session);
    await sub.subscribeAsync('quotes/#', { qos: 1 });
    await sub.endAsync();
    const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    await pub.publishAsync('config/interval', '30', { qos: 1, retain: true });
    for (let i = 0; i < queued; i++) await pub.publishAsync(`quotes/S${i}`, String(i), { qos: 1 });
    await pub.endAsync();
    // PUBACK comes before the message is queued for the session: give the queue a moment.
    await sleep(1_000);
    await broker.kill9();
    broker = await Tkmprom.broker(['--data-dir', dataDir], broker.port);

    const seen = new Set<string>();
    const resumed = await mqtt.connectAsync(url, session, false);
    resumed.on('message', (topic) => seen.add(topic));
    await until(async () => seen.size >= queued, 10_000, 50);
    await resumed.endAsync();
    let retained = 0;
    const fresh = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    fresh.on('message', (_t, _p, packet) => {
      if (packet.retain) retained++;
    });
    await fresh.subscribeAsync('config/#', { qos: 1 });
    await until(async () => retained > 0, 5_000, 50);
    await fresh.endAsync();
    return [
      row(
        name,
        `QoS 1 messages queued for a persistent session, back after the restart`,
        `${seen.size} of ${queued}`,
        seen.size === queued,
      ),
      row(name, 'retained message back after the restart', `${retained} of 1`, retained === 1),
    ];
  } finally {
    await broker.stop();
  }
}

/** Raw QoS 0 PUBLISH frames, written as fast as the socket takes them. */
async function blast(port: number, frames: Iterable<Buffer>): Promise<{ sent: number; ms: number }> {
  const socket = await rawConnect(port, `chaos-flood-${process.pid}`);
  const start = Date.now();
  let sent = 0;
  let batch: Buffer[] = [];
  let bytes = 0;
  for (const f of frames) {
    batch.push(f);
    bytes += f.length;
    sent++;
    if (bytes >= 64 * 1024) {
      if (!socket.write(Buffer.concat(batch))) await new Promise((r) => socket.once('drain', r));
      batch = [];
      bytes = 0;
    }
  }
  socket.write(Buffer.concat([...batch, DISCONNECT_FRAME]));
  await new Promise<void>((r) => socket.end(() => r()));
  return { sent, ms: Date.now() - start };
}

export async function floods(scale: Scale): Promise<Row[]> {
  const rows: Row[] = [];
  const ids = scale.quick ? 100_000 : 1_000_000;
  const symbols = scale.quick ? 20_000 : 100_000;
  const mq = await Mosquitto.start(['max_queued_messages 2000000']);
  const exp = await Tkmprom.exporter(['--mqtt-url', mq.url]);
  try {
    const rssBefore = rssMb(exp.pid);
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(exp.pid));
    }, 200);
    const name = `${ids.toLocaleString('en')} requests from distinct unknown device ids`;
    function* forged() {
      for (let i = 0; i < ids; i++) {
        const id = (0x100000000000 + i).toString(16).toUpperCase().slice(-12);
        yield publishFrame(REQUEST_TOPIC, requestPayload(id, '"AAPL"'));
      }
    }
    const floodStart = Date.now();
    const sent = await blast(mq.port, forged());
    await until(async () => total(await scrape(exp.url), 'tkmprom_messages_total') >= ids, 120_000, 100);
    const handledMs = Date.now() - floodStart;
    const s = await scrape(exp.url);
    const handled = total(s, 'tkmprom_messages_total');
    clearInterval(sampler);
    rows.push(
      row(
        name,
        'messages handled / sent',
        `${handled} / ${sent.sent}, sent at ${Math.round((sent.sent * 1000) / sent.ms)} msg/s, all handled at ${Math.round((handled * 1000) / handledMs)} msg/s`,
        handled === sent.sent,
      ),
      row(
        name,
        'devices counted online afterwards (ids heard only in requests)',
        total(s, 'tickrmeter_devices_online'),
        total(s, 'tickrmeter_devices_online') === 0,
      ),
      row(name, 'evictions counted', total(s, 'tkmprom_evictions_total'), true),
      row(name, 'RSS before / highest', `${Math.round(rssBefore)} / ${Math.round(peak)} MB`, peak < 1_000),
    );

    const symName = `${symbols.toLocaleString('en')} distinct symbols`;
    function* junk() {
      for (let i = 0; i < symbols; i++)
        yield publishFrame(REQUEST_TOPIC, requestPayload('0000000000AA', `"J${i}"`));
    }
    await blast(mq.port, junk());
    await until(
      async () => total(await scrape(exp.url), 'tkmprom_messages_total') >= ids + symbols,
      60_000,
      250,
    );
    const t0 = Date.now();
    const s2 = await scrape(exp.url);
    const scrapeMs = Date.now() - t0;
    rows.push(
      row(
        symName,
        'symbols tracked (capped by limits.maxSymbols)',
        total(s2, 'tkmprom_tracked_symbols'),
        total(s2, 'tkmprom_tracked_symbols') <= 5_003,
      ),
      row(symName, 'outcomes counted under _other', total(s2, 'tkmprom_symbol_overflow_total'), true),
      row(symName, 'scrape time afterwards', `${scrapeMs} ms`, scrapeMs < 2_000),
    );

    const sizeName = 'payloads at and over limits.maxPayloadBytes (16,384)';
    const invalidBefore = total(s2, 'tkmprom_messages_invalid_total');
    const at = `{"type":"UPDATE","device":"0000000000BB","symbol":"AAPL","pad":"${'x'.repeat(16_384 - 64)}"}`;
    const atLimit = at.slice(0, 16_384 - 2) + '"}';
    const over = at.replace('"pad":"', '"pad":"xx');
    const rssBig = rssMb(exp.pid);
    let bigPeak = rssBig;
    const sampler2 = setInterval(() => {
      bigPeak = Math.max(bigPeak, rssMb(exp.pid));
    }, 100);
    await blast(mq.port, [
      publishFrame(REQUEST_TOPIC, atLimit),
      publishFrame(REQUEST_TOPIC, over),
      publishFrame(REQUEST_TOPIC, Buffer.alloc(250 * 1024 * 1024, 0x20)),
    ]);
    await until(
      async () => total(await scrape(exp.url), 'tkmprom_messages_total') >= ids + symbols + 3,
      60_000,
      250,
    );
    clearInterval(sampler2);
    const s3 = await scrape(exp.url);
    const oversize = s3.get('tkmprom_messages_invalid_total{reason="oversize"}') ?? 0;
    rows.push(
      row(
        sizeName,
        'oversize drops (one over the limit, one of 250 MB)',
        oversize,
        oversize === 2 && total(s3, 'tkmprom_messages_invalid_total') - invalidBefore === 2,
      ),
      row(
        sizeName,
        'RSS growth while a 250 MB PUBLISH streamed through',
        `${Math.round(bigPeak - rssBig)} MB`,
        bigPeak - rssBig < 40,
      ),
    );
    return rows;
  } finally {
    await exp.stop();
    await mq.stop();
  }
}

export async function properties(scale: Scale): Promise<Row[]> {
  const runs = scale.quick ? 20_000 : 300_000;
  const name = 'property tests (fast-check)';
  const files = ['src/correlate/correlator.model.test.ts'];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], {
    cwd: ROOT,
    env: { ...process.env, TKMPROM_PROPERTY_RUNS: String(runs) },
    encoding: 'utf8',
  });
  const pass = /# pass (\d+)/.exec(r.stdout)?.[1] ?? '0';
  const fail = /# fail (\d+)/.exec(r.stdout)?.[1] ?? '?';
  const messages = scale.quick ? 50_000 : 1_000_000;
  const t1 = Date.now();
  const f = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'src/exporter.property.test.ts'], {
    cwd: ROOT,
    env: { ...process.env, TKMPROM_FUZZ_MESSAGES: String(messages) },
    encoding: 'utf8',
  });
  const fuzzPass = /# pass (\d+)/.exec(f.stdout)?.[1] ?? '0';
  const fuzzFail = /# fail (\d+)/.exec(f.stdout)?.[1] ?? '?';
  return [
    row(
      name,
      `correlator against the reference model: ${runs.toLocaleString('en')} sequences (about ${(runs * 60).toLocaleString('en')} operations)`,
      `${pass} passed, ${fail} failed, ${Math.round((Date.now() - t0) / 1000)} s`,
      r.status === 0,
    ),
    row(
      name,
      `${messages.toLocaleString('en')} random and mutated messages through decoder, fleet, correlator and stats: no crash, each counted once`,
      `${fuzzPass} passed, ${fuzzFail} failed, ${Math.round((Date.now() - t1) / 1000)} s`,
      f.status === 0,
    ),
  ];
}

export async function soak(scale: Scale): Promise<Row[]> {
  const minutes = scale.quick ? 2 : 10;
  const name = `simulator at 60x for ${minutes} min`;
  const mq = await Mosquitto.start();
  const exp = await Tkmprom.exporter(['--mqtt-url', mq.url]);
  const sim = await Tkmprom.simulator([
    '--mqtt-url',
    mq.url,
    '--devices',
    '3000',
    '--speed',
    '60',
    '--forever',
    '--seed',
    '7',
  ]);
  try {
    const warmMs = (scale.quick ? 0.5 : 2) * 60_000;
    await sleep(warmMs);
    const rss: number[] = [];
    const series: number[] = [];
    const end = Date.now() + minutes * 60_000 - warmMs;
    while (Date.now() < end) {
      const s = await scrape(exp.url);
      series.push(s.size);
      rss.push(rssMb(exp.pid));
      await sleep(5_000);
    }
    const spreadOf = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);
    // Flat means no drift: the collector's sawtooth moves single samples by 10 % either way, so
    // the level is the median of a third of the window, the last third against the first.
    const third = Math.max(1, Math.floor(rss.length / 3));
    const drift = median(rss.slice(-third)) / median(rss.slice(0, third)) - 1;
    const msgs = total(await scrape(exp.url), 'tkmprom_messages_total');
    return [
      row(name, 'messages handled', msgs, msgs > 0),
      row(
        name,
        'RSS after warm-up: last third against the first (medians)',
        `${drift >= 0 ? '+' : ''}${(drift * 100).toFixed(1)} % (samples ${Math.round(Math.min(...rss))} to ${Math.round(Math.max(...rss))} MB)`,
        Math.abs(drift) <= 0.05,
      ),
      row(
        name,
        'series after warm-up: spread around the median',
        `${(spreadOf(series) * 100).toFixed(1)} % (${Math.min(...series)} to ${Math.max(...series)})`,
        spreadOf(series) <= 0.05,
      ),
    ];
  } finally {
    await sim.stop(2_000);
    await exp.stop();
    await mq.stop();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const SCENARIOS = {
  restarts: brokerRestarts,
  freeze: brokerFrozen,
  'exporter-kill': exporterKilled,
  'broker-kill': brokerKilled,
  floods,
  properties,
  soak,
} as const;
