import { startBroker } from '../lib/broker.js';
import { type Ctx, STANDARD } from '../lib/context.js';
import { Feed } from '../lib/feed.js';
import { sample } from '../lib/http.js';
import { median, NoiseMeter, type Noise } from '../lib/measure.js';
import { cpuSeconds, memory, sleep } from '../lib/procs.js';
import { exporterReceiver, mqttjsReceiver, settledCount } from '../lib/receivers.js';

export interface Load1kResult {
  rate: number;
  /** Rate at which the fleet was introduced before the window. */
  introductionRate: number;
  /** Seconds at `rate` before the window, so that it starts in the steady state. */
  warmupSeconds: number;
  seconds: number;
  achievedRate: number;
  scrapesInWindow: number;
  /** % of one core over the window, scrapes included. */
  cpuPct: number;
  /** Median of RSS sampled every 500 ms over the window: the steady state, whatever the GC's phase. */
  rssBytes: number;
  /** Highest RSS sampled over the window. */
  rssMaxBytes: number;
  /** The process's peak RSS since it started (VmHWM), the fleet's introduction included. */
  peakRssBytes: number;
  heapUsedBytes: number;
  lost: number;
  noise: Noise;
  /** The bare MQTT.js subscriber over a window of the same length at the same rate: the client's floor. */
  mqttjsCpuPct: number;
}

/**
 * Today's load: 1,000 msg/s from 8,000 devices and 3,400 symbols, the exporter alone, scraped every
 * 15 s as Prometheus would. The fleet is introduced first (every device heard once, at 5,000 msg/s, a
 * burst a restarted broker could send; 20,000 in a quick run), then runs at 1,000 msg/s for 25 s
 * (2 s in a quick run), scraped once early on, before the window: the burst's mix of messages leaves
 * code to compile and re-optimise at the steady mix, and the first scrape creates every symbol's
 * gauges, which grows the old generation and sets off a full collection; V8's memory reducer follows
 * it 10 to 15 s later with two or three compacting collections (about 200 ms of CPU in all). These
 * are one-off costs of the first seconds. The window then measures the steady state. The bare MQTT.js
 * subscriber then gets the same window on a broker of its own, for the client's own cost at this rate.
 */
export async function load1k(ctx: Ctx): Promise<Load1kResult> {
  const rate = 1000;
  const introductionRate = ctx.quick ? 20_000 : 5000;
  const seconds = ctx.quick ? 4 : 30;
  const warmupSeconds = ctx.quick ? 2 : 25;
  const broker = await startBroker();
  const refBroker = await startBroker();
  await ctx.gen.connect('load1k', broker.port);
  await ctx.gen.connect('load1k-ref', refBroker.port);
  const script = await ctx.gen.script('std1k', { ...STANDARD, rate });
  const feed = new Feed(ctx.gen, 'load1k', script);
  const refFeed = new Feed(ctx.gen, 'load1k-ref', script);
  const exporter = await exporterReceiver(broker.url);
  const ref = await mqttjsReceiver(refBroker.url);
  const noise = new NoiseMeter();
  try {
    await feed.pass(introductionRate);
    await refFeed.play(introductionRate, introductionRate);
    await sleep(ctx.quick ? 500 : 3000);
    // Prometheus scrapes all along: the warm-up's scrape takes the first one's one-off cost (it
    // creates every symbol's gauges and compiles the render, 170 ms of CPU) out of the window.
    const warming = feed.play(rate, rate * warmupSeconds);
    await sleep(ctx.quick ? 500 : 2000);
    await exporter.proc.scrapeLikePrometheus();
    await warming;
    const c0 = await settledCount(exporter);
    const cpu0 = cpuSeconds(exporter.pid);
    const t0 = performance.now();
    noise.start([broker.pid, ctx.gen.pid, exporter.pid]);
    // RSS swings by 20 to 30 MB with the young generation, which grows under bursts of
    // allocation and shrinks seconds later, or not within the window: one reading would
    // measure the GC's phase.
    const rssSamples: number[] = [];
    const sampler = setInterval(() => rssSamples.push(memory(exporter.pid).rss), 500);
    const playing = feed.play(rate, rate * seconds);
    // Scrapes at 15 s intervals, placed inside the window.
    const scrapeTimes = ctx.quick ? [2] : [7.5, 22.5];
    let heapUsed = Number.NaN;
    for (const at of scrapeTimes) {
      await sleep(Math.max(0, t0 + at * 1000 - performance.now()));
      const r = await exporter.proc.scrapeLikePrometheus();
      heapUsed = sample(`\n${r.body.toString('utf8')}`, 'nodejs_heap_size_used_bytes');
    }
    const d = await playing;
    await sleep(200);
    clearInterval(sampler);
    const cpu1 = cpuSeconds(exporter.pid);
    const wall = (performance.now() - t0) / 1000;
    const n = noise.stop();
    const mem = memory(exporter.pid);
    const c1 = await exporter.count();

    ctx.checkTime('mqttjs at 1,000 msg/s');
    const r0 = cpuSeconds(ref.pid);
    const rt0 = performance.now();
    await refFeed.play(rate, rate * seconds);
    await sleep(200);
    const mqttjsCpuPct = ((cpuSeconds(ref.pid) - r0) / ((performance.now() - rt0) / 1000)) * 100;

    const result: Load1kResult = {
      rate,
      introductionRate,
      warmupSeconds,
      seconds: wall,
      achievedRate: d.sent / (d.elapsedMs / 1000),
      scrapesInWindow: scrapeTimes.length,
      cpuPct: ((cpu1 - cpu0) / wall) * 100,
      rssBytes: median(rssSamples),
      rssMaxBytes: Math.max(...rssSamples),
      peakRssBytes: mem.peak,
      heapUsedBytes: heapUsed,
      lost: d.sent - (c1 - c0),
      noise: n,
      mqttjsCpuPct,
    };
    ctx.log(
      `  1,000 msg/s: exporter ${result.cpuPct.toFixed(2)} % of one core (bare MQTT.js ${mqttjsCpuPct.toFixed(2)} %), RSS ${(result.rssBytes / 1e6).toFixed(1)} MB (median of ${rssSamples.length} samples; max ${(result.rssMaxBytes / 1e6).toFixed(1)} MB, since start ${(result.peakRssBytes / 1e6).toFixed(1)} MB), lost ${result.lost}, other load ${n.foreignCores.toFixed(2)} cores`,
    );
    return result;
  } finally {
    await exporter.stop();
    await ref.stop();
    await broker.stop();
    await refBroker.stop();
  }
}
