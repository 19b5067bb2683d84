import { type Ctx, publish, STANDARD } from '../lib/context.js';
import type { Feed } from '../lib/feed.js';
import { rawConnect } from '../lib/frames.js';
import { type Fetched, sample } from '../lib/http.js';
import { startLanes } from '../lib/lanes.js';
import { median, NoiseMeter, type Noise, quantile } from '../lib/measure.js';
import { cpuSeconds, memory, sleep } from '../lib/procs.js';
import { exporterReceiver, type Receiver, type ReceiverName, settledCount } from '../lib/receivers.js';
import { type CeilingResult, ceiling } from './ceiling.js';

export interface ScrapeFigures {
  scrapes: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  /** Uncompressed body. */
  bytes: number;
  /** On the wire, as Prometheus would receive it (gzip). */
  wireBytes: number;
  series: number;
}

export interface CpuWindow {
  sent: number;
  seconds: number;
  usPerMessage: Record<ReceiverName, number>;
  noise: Noise;
}

export interface StandardResult {
  fleet: {
    devices: number;
    symbols: number;
    frames: number;
    periodSeconds: number;
    kinds: Record<string, number>;
  };
  cpu: {
    rate: number;
    windows: CpuWindow[];
    usPerMessage: Record<ReceiverName, number>;
    messagesPerCpuSecond: Record<ReceiverName, number>;
    /** Median over windows of the per-window ratio, so both sides share each window's noise. */
    exporterToMqttjs: number;
    exporterToMosquittoSub: number;
    lost: Record<ReceiverName, number>;
  };
  ceiling: CeilingResult;
  exporterRssBytes: number;
  scrapeIdle: { plain: ScrapeFigures; prometheus: ScrapeFigures };
  scrapeIngest: {
    rate: number;
    achievedRate: number;
    seconds: number;
    scrape: ScrapeFigures;
    lost: { exporter: number };
    noise: Noise;
  };
  visibility: {
    probes: number;
    backgroundRate: number;
    /** From publishing the reply to the end of the first scrape that showed it. */
    medianMs: number;
    maxMs: number;
    /** The scrape's own duration, which bounds the resolution of the figure above. */
    scrapeMedianMs: number;
  };
  perDevice: { devices: number; plain: ScrapeFigures; prometheus: ScrapeFigures };
  api:
    | { skipped: string }
    | {
        rate: number;
        requestsPerSecond: number;
        seconds: number;
        requests: number;
        errors: number;
        p50Ms: number;
        p99Ms: number;
        maxMs: number;
        lost: { exporter: number };
        achievedRate: number;
      };
}

const PROBE_DEVICE = 'B0B0B0B0B0B0';
const PROBE_SYMBOL = 'ZZPROBE';
const API_PATHS = ['/api/v1/stats', '/api/v1/symbols?limit=10', '/api/v1/streams'];

function seriesCount(body: string): number {
  let n = 0;
  let at = 0;
  while (at < body.length) {
    const eol = body.indexOf('\n', at);
    const end = eol < 0 ? body.length : eol;
    if (end > at && body.charCodeAt(at) !== 35) n++;
    at = end + 1;
  }
  return n;
}

function scrapeFigures(rs: Fetched[]): ScrapeFigures {
  const ms = rs.map((r) => r.ms);
  const last = rs[rs.length - 1]!;
  return {
    scrapes: rs.length,
    medianMs: median(ms),
    p95Ms: quantile(ms, 0.95),
    maxMs: Math.max(...ms),
    bytes: last.body.length,
    wireBytes: last.wireBytes,
    series: seriesCount(last.body.toString('utf8')),
  };
}

async function scrapeSeries(
  plain: () => Promise<Fetched>,
  prom: () => Promise<Fetched>,
  n: number,
): Promise<{ plain: ScrapeFigures; prometheus: ScrapeFigures }> {
  const a: Fetched[] = [];
  const b: Fetched[] = [];
  for (let i = 0; i < n; i++) {
    a.push(await plain());
    await sleep(100);
    b.push(await prom());
    await sleep(100);
  }
  return { plain: scrapeFigures(a), prometheus: scrapeFigures(b) };
}

/**
 * Today's fleet (8,000 devices, 3,400 symbols) on three lanes (the exporter, a bare MQTT.js subscriber
 * and mosquitto_sub, each alone on a Mosquitto of its own): CPU per message at 20,000 msg/s and the
 * maximum sustained rate of each, then, on the exporter's lane, scrape cost idle and under ingest, the
 * delay before a reply shows in a scrape, the JSON API under load, and per-device series.
 */
export async function standard(ctx: Ctx): Promise<StandardResult> {
  const q = ctx.quick;
  const rate = 20_000;
  const set = await startLanes(ctx, ['exporter', 'mqttjs', 'mosquitto_sub'], rate);
  const { script, lanes } = set;
  const exporterLane = set.exporter;
  const exporter = exporterLane.receiver;
  const feed = exporterLane.feed;
  const broker = exporterLane.broker;
  ctx.log(
    `standard fleet: ${script.devices} devices, ${script.symbolsUsed} symbols, ${script.count} frames per pass (${script.periodSeconds.toFixed(1)} s at ${rate} msg/s), built in ${(script.buildMs / 1000).toFixed(1)} s`,
  );
  const noise = new NoiseMeter();
  const extra: Receiver[] = [];
  let pub: import('node:net').Socket | undefined;
  try {
    // Warm-up to the steady state of a long-running exporter: every device through enough update
    // cycles to fill its recent outcomes, pools and windows in use, the JIT settled.
    const passes = q ? 2 : 8;
    for (let k = 0; k < passes; k++) await feed.pass(40_000);
    for (const l of lanes) if (l !== exporterLane) await l.feed.pass(rate);
    await sleep(500);

    ctx.checkTime('cpu per message');
    const c0 = await Promise.all(lanes.map((l) => settledCount(l.receiver)));
    const sentBy = lanes.map(() => 0);
    const windows: CpuWindow[] = [];
    const seconds = q ? 2 : 5;
    for (let w = 0; w < (q ? 2 : 4); w++) {
      const us = {} as Record<ReceiverName, number>;
      const n0 = noise;
      n0.start([ctx.gen.pid, ...lanes.flatMap((l) => [l.broker.pid, l.receiver.pid])]);
      let sent = 0;
      let wall = 0;
      // Each receiver in turn on its own lane; the order rotates from one window to the next.
      for (let i = 0; i < lanes.length; i++) {
        const k = (i + w) % lanes.length;
        const l = lanes[k]!;
        const cpu0 = cpuSeconds(l.receiver.pid);
        const d = await l.feed.play(rate, rate * seconds);
        // Messages written are not yet handled: let the receiver finish before reading its CPU.
        await sleep(300);
        us[l.name] = ((cpuSeconds(l.receiver.pid) - cpu0) / d.sent) * 1e6;
        sentBy[k]! += d.sent;
        sent += d.sent;
        wall += d.elapsedMs / 1000;
      }
      const n = n0.stop();
      windows.push({ sent, seconds: wall, usPerMessage: us, noise: n });
      ctx.log(
        `  cpu round ${w + 1}: exporter ${us.exporter.toFixed(2)} µs/msg, mqttjs ${us.mqttjs.toFixed(2)}, mosquitto_sub ${us.mosquitto_sub.toFixed(2)} (other load ${n.foreignCores.toFixed(2)} cores)`,
      );
    }
    await sleep(300);
    const c1 = await Promise.all(lanes.map((l) => l.receiver.count()));
    const lost = {} as Record<ReceiverName, number>;
    lanes.forEach((l, i) => {
      lost[l.name] = sentBy[i]! - (c1[i]! - c0[i]!);
    });
    const usPerMessage = {} as Record<ReceiverName, number>;
    const perSecond = {} as Record<ReceiverName, number>;
    for (const l of lanes) {
      usPerMessage[l.name] = median(windows.map((w) => w.usPerMessage[l.name]));
      perSecond[l.name] = 1e6 / usPerMessage[l.name];
    }
    const cpu = {
      rate,
      windows,
      usPerMessage,
      messagesPerCpuSecond: perSecond,
      exporterToMqttjs: median(windows.map((w) => w.usPerMessage.exporter / w.usPerMessage.mqttjs)),
      exporterToMosquittoSub: median(
        windows.map((w) => w.usPerMessage.exporter / w.usPerMessage.mosquitto_sub),
      ),
      lost,
    };
    const exporterRssBytes = memory(exporter.pid).rss;

    ctx.checkTime('ceiling');
    const ceilingResult = await ceiling(ctx, lanes);
    // The references are done; what follows concerns the exporter alone.
    for (const l of lanes) {
      if (l === exporterLane) continue;
      await l.receiver.stop();
      await l.broker.stop();
    }
    lanes.splice(0, lanes.length, exporterLane);
    await sleep(1000);

    ctx.checkTime('idle scrapes');
    const scrapeIdle = await scrapeSeries(
      () => exporter.proc.scrapePlain(),
      () => exporter.proc.scrapeLikePrometheus(),
      q ? 3 : 10,
    );
    ctx.log(
      `  scrape idle: ${scrapeIdle.plain.medianMs.toFixed(1)} ms plain, ${scrapeIdle.prometheus.medianMs.toFixed(1)} ms as Prometheus asks, ${(scrapeIdle.plain.bytes / 1e6).toFixed(2)} MB, ${scrapeIdle.plain.series} series`,
    );

    ctx.checkTime('scrapes under ingest');
    const ingestSeconds = q ? 3 : 10;
    const i0 = await settledCount(exporter);
    noise.start([broker.pid, ctx.gen.pid, exporter.pid]);
    const running = feed.start(rate);
    const t0 = performance.now();
    const during: Fetched[] = [];
    for (let k = 1; k <= ingestSeconds; k++) {
      await sleep(Math.max(0, t0 + k * 1000 - performance.now()));
      during.push(await exporter.proc.scrapeLikePrometheus());
    }
    const done = await running.stop();
    const ingestNoise = noise.stop();
    await sleep(1000);
    const i1 = await exporter.count();
    const scrapeIngest = {
      rate,
      achievedRate: done.sent / (done.elapsedMs / 1000),
      seconds: done.elapsedMs / 1000,
      scrape: scrapeFigures(during),
      lost: { exporter: done.sent - (i1 - i0) },
      noise: ingestNoise,
    };
    ctx.log(
      `  scrape every 1 s at ${rate} msg/s: median ${scrapeIngest.scrape.medianMs.toFixed(1)} ms, max ${scrapeIngest.scrape.maxMs.toFixed(1)} ms, lost ${scrapeIngest.lost.exporter}`,
    );

    ctx.checkTime('visibility');
    pub = await rawConnect(broker.port, 'bench-probe');
    const visibility = await probeVisibility(ctx, feed, exporter, pub, q ? 3 : 10);
    ctx.log(
      `  reply to scrape: median ${visibility.medianMs.toFixed(1)} ms (scrape itself ${visibility.scrapeMedianMs.toFixed(1)} ms)`,
    );

    ctx.checkTime('api');
    const api = await apiLoad(ctx, feed, exporter, q ? 5 : 30);
    if ('skipped' in api) ctx.log(`  API: ${api.skipped}`);
    else
      ctx.log(
        `  API: p99 ${api.p99Ms.toFixed(1)} ms over ${api.requests} requests, lost ${api.lost.exporter}`,
      );

    // Per-device series: a fresh exporter opted in for every device, alone on the broker.
    ctx.checkTime('per-device scrapes');
    await exporter.stop();
    const perDevice = await exporterReceiver(broker.url, ['--per-device-metrics', String(STANDARD.devices)]);
    extra.push(perDevice);
    await feed.pass(rate);
    await sleep(1000);
    const pd = await scrapeSeries(
      () => perDevice.proc.scrapePlain(),
      () => perDevice.proc.scrapeLikePrometheus(),
      q ? 2 : 10,
    );
    ctx.log(
      `  scrape with --per-device-metrics ${STANDARD.devices}: ${pd.plain.medianMs.toFixed(1)} ms plain, ${(pd.plain.bytes / 1e6).toFixed(2)} MB, ${pd.plain.series} series`,
    );

    return {
      fleet: {
        devices: script.devices,
        symbols: script.symbolsUsed,
        frames: script.count,
        periodSeconds: script.periodSeconds,
        kinds: script.kinds,
      },
      cpu,
      ceiling: ceilingResult,
      exporterRssBytes,
      scrapeIdle,
      scrapeIngest,
      visibility,
      perDevice: { devices: STANDARD.devices, ...pd },
      api,
    };
  } finally {
    pub?.destroy();
    await Promise.all(extra.map((r) => r.stop().catch(() => {})));
    await set.stop();
  }
}

/**
 * A request and its reply for a symbol of its own, then scrapes back to back until the reply is
 * counted. Counters move in the message handler itself, so what this measures is delivery through
 * the broker plus the wait for a scrape to render.
 */
async function probeVisibility(
  ctx: Ctx,
  feed: Feed,
  exporter: Receiver & { proc: { scrapePlain(): Promise<Fetched> } },
  pub: import('node:net').Socket,
  probes: number,
): Promise<StandardResult['visibility']> {
  const backgroundRate = 1000;
  const bg = feed.start(backgroundRate);
  const series = `tickrmeter_stock_update_responses_total{symbol="${PROBE_SYMBOL}"}`;
  const delays: number[] = [];
  const scrapeMs: number[] = [];
  try {
    for (let i = 0; i < probes; i++) {
      ctx.checkTime('visibility probe');
      publish(
        pub,
        'STOCKPRICEUPDATE',
        `{"type":"UPDATE","device":"${PROBE_DEVICE}","symbol":"${PROBE_SYMBOL}"}`,
      );
      const before = await exporter.proc.scrapePlain();
      const v0 = sample(before.body.toString('utf8'), series);
      scrapeMs.push(before.ms);
      const t0 = performance.now();
      publish(
        pub,
        PROBE_DEVICE,
        `{"type":"UPDATE","symbol":"${PROBE_SYMBOL}","price":"$1.00","p":1,"percent":"1 day +0.00%","currency":"$","isPlaylist":false,"interval":120}`,
      );
      for (;;) {
        const r = await exporter.proc.scrapePlain();
        const v = sample(r.body.toString('utf8'), series);
        if ((Number.isNaN(v0) && v >= 1) || v > v0) {
          delays.push(performance.now() - t0);
          break;
        }
        if (performance.now() - t0 > 5000) {
          delays.push(Number.POSITIVE_INFINITY);
          break;
        }
      }
      await sleep(200);
    }
  } finally {
    await bg.stop();
  }
  return {
    probes,
    backgroundRate,
    medianMs: median(delays),
    maxMs: Math.max(...delays),
    scrapeMedianMs: median(scrapeMs),
  };
}

/** 200 API requests a second, open loop, while the fleet streams at 20,000 msg/s. */
async function apiLoad(
  ctx: Ctx,
  feed: Feed,
  exporter: Receiver & { proc: { get(path: string): Promise<Fetched> } },
  seconds: number,
): Promise<StandardResult['api']> {
  for (const path of API_PATHS) {
    const r = await exporter.proc.get(path);
    if (r.status !== 200) {
      return {
        skipped: `skipped: GET ${path} answered ${r.status}; the scenario runs once every API endpoint answers 200`,
      };
    }
  }
  const rate = 20_000;
  const perSecond = 200;
  const c0 = await settledCount(exporter);
  const running = feed.start(rate);
  const latencies: number[] = [];
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const t0 = performance.now();
  const total = perSecond * seconds;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const path = API_PATHS[i % API_PATHS.length]!;
    inflight.push(
      exporter.proc.get(path).then(
        (r) => {
          if (r.status === 200) latencies.push(r.ms);
          else errors++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  const done = await running.stop();
  await sleep(1000);
  const c1 = await exporter.count();
  ctx.checkTime('api');
  return {
    rate,
    requestsPerSecond: perSecond,
    seconds,
    requests: total,
    errors,
    p50Ms: median(latencies),
    p99Ms: quantile(latencies, 0.99),
    maxMs: Math.max(...latencies),
    lost: { exporter: done.sent - (c1 - c0) },
    achievedRate: done.sent / (done.elapsedMs / 1000),
  };
}
