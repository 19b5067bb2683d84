import { startBroker } from '../lib/broker.js';
import type { Ctx } from '../lib/context.js';
import { caughtUp } from '../lib/context.js';
import { Feed } from '../lib/feed.js';
import { sample } from '../lib/http.js';
import { linearFit } from '../lib/measure.js';
import { memory, sleep } from '../lib/procs.js';
import { exporterReceiver, settledCount } from '../lib/receivers.js';

export interface MemoryRow {
  devices: number;
  /** msg/s the passes were played at; lower for the largest fleet, whose state makes each message dearer. */
  rate: number;
  symbols: number;
  messages: number;
  lost: number;
  /** RSS once the traffic has been handled and the timeouts have run, before any scrape. */
  rssBytes: number;
  /** RSS after one scrape, which renders every series once. */
  rssAfterScrapeBytes: number;
  peakRssBytes: number;
  heapUsedBytes: number;
  trackedDevices: number;
  trackedSymbols: number;
  scrapeMs: number;
  scrapeBytes: number;
}

export interface MemoryResult {
  passes: number;
  rows: MemoryRow[];
  /** Slope of RSS over devices, from a least-squares fit of the rows. */
  bytesPerDevice: number;
  interceptBytes: number;
  r2: number;
}

const SYMBOLS = 20_000;

/**
 * RSS against fleet size at 20,000 symbols: for each size a fresh exporter hears every device
 * through full update cycles, then RSS is read from /proc once the traffic is handled.
 */
export async function memoryGrowth(ctx: Ctx): Promise<MemoryResult> {
  const sizes = ctx.quick ? [10_000, 20_000] : [10_000, 50_000, 100_000, 200_000];
  const passes = ctx.quick ? 1 : 2;
  const broker = await startBroker();
  await ctx.gen.connect('memory', broker.port);
  const rows: MemoryRow[] = [];
  try {
    for (const devices of sizes) {
      ctx.checkTime(`memory at ${devices} devices`);
      const rate = devices > 100_000 ? 40_000 : 60_000;
      const script = await ctx.gen.script(`mem-${devices}`, { devices, symbols: SYMBOLS, seed: 7, rate });
      const feed = new Feed(ctx.gen, 'memory', script);
      const exporter = await exporterReceiver(broker.url, ['--max-symbols', String(SYMBOLS)]);
      try {
        const c0 = await settledCount(exporter);
        let sent = 0;
        for (let p = 0; p < passes; p++) {
          const b0 = exporter.bytesIn();
          const d = await feed.pass(rate);
          sent += d.sent;
          await caughtUp(exporter, b0, d.bytes, 10_000, 2000);
        }
        // Past the request timeout and the late window, so that pending requests are settled.
        await sleep(5000);
        const mem = memory(exporter.pid);
        const r = await exporter.proc.scrapePlain();
        const body = `\n${r.body.toString('utf8')}`;
        const c1 = await exporter.count();
        const after = memory(exporter.pid);
        const row: MemoryRow = {
          devices,
          rate,
          symbols: SYMBOLS,
          messages: sent,
          lost: sent - (c1 - c0),
          rssBytes: mem.rss,
          rssAfterScrapeBytes: after.rss,
          peakRssBytes: after.peak,
          heapUsedBytes: sample(body, 'nodejs_heap_size_used_bytes'),
          trackedDevices: sample(body, 'tkmprom_tracked_devices'),
          trackedSymbols: sample(body, 'tkmprom_tracked_symbols'),
          scrapeMs: r.ms,
          scrapeBytes: r.body.length,
        };
        rows.push(row);
        ctx.log(
          `  ${String(devices).padStart(7)} devices: RSS ${(row.rssBytes / 1e6).toFixed(1)} MB (after a scrape ${(row.rssAfterScrapeBytes / 1e6).toFixed(1)} MB), heap ${(row.heapUsedBytes / 1e6).toFixed(1)} MB, ${row.trackedSymbols} symbols, lost ${row.lost}, scrape ${row.scrapeMs.toFixed(0)} ms / ${(row.scrapeBytes / 1e6).toFixed(1)} MB`,
        );
      } finally {
        await exporter.stop();
      }
    }
  } finally {
    await broker.stop();
  }
  const fit = linearFit(
    rows.map((r) => r.devices),
    rows.map((r) => r.rssBytes),
  );
  return { passes, rows, bytesPerDevice: fit.b, interceptBytes: fit.a, r2: fit.r2 };
}
