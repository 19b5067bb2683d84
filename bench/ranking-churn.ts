/**
 * How many distinct series `tickrmeter_slowest_symbols_ranking{rank,symbol}` creates: the demo's
 * fleet and faults (300 devices at 20x, TSLA answering in about 4 s, coingecko answering nothing)
 * run in simulated time, without broker or waiting, through an exporter whose clock is the
 * simulation's, scraped every `--scrape` of simulated time. Each label set seen in a scrape is a
 * series Prometheus stores; the same count for `tickrmeter_stock_update_p95_latency_seconds`, the
 * per-symbol gauge that `topk(10, ...)` reads instead, is the reference.
 *
 *   node --import tsx bench/ranking-churn.ts [--minutes 10] [--scrape 15s] [--devices 300] [--seed 1]
 *
 * Prints one JSON object; the README quotes its figures next to the ranking metric.
 */
import { parseArgs } from 'node:util';
import { loadConfig, parseDuration } from '../src/config/index.js';
import { Exporter } from '../src/exporter.js';
import { silentLogger } from '../src/log.js';
import { DEMO_SCENARIO, runVirtual, streamMappingRules } from '../src/sim/index.js';

export interface ChurnOptions {
  minutes: number;
  scrapeMs: number;
  devices: number;
  speed: number;
  seed: number;
}

export interface ChurnResult {
  options: ChurnOptions;
  messages: number;
  scrapes: number;
  /** Distinct `{rank, symbol}` label sets of the ranking over the run: series created. */
  rankingSeries: number;
  /** Distinct symbols among them. */
  rankingSymbols: number;
  /** Scrapes at which the ranking's label sets differed from the scrape before. */
  scrapesWithChange: number;
  /** The most label sets of the ranking in one scrape (at most `stats.rankingSize`). */
  rankingSeriesPerScrape: number;
  /** Distinct series of the per-symbol p95 gauge over the run, and the most in one scrape. */
  p95Series: number;
  p95SeriesPerScrape: number;
  /** The ranking at the last scrape, rank 1 first. */
  lastRanking: string[];
}

const RANKING = 'tickrmeter_slowest_symbols_ranking{';
const P95 = 'tickrmeter_stock_update_p95_latency_seconds{';
const SWEEP_MS = 100;

function labelSets(text: string, prefix: string): string[] {
  const out: string[] = [];
  let at = text.indexOf(`\n${prefix}`);
  while (at >= 0) {
    const end = text.indexOf('}', at);
    out.push(text.slice(at + prefix.length, end));
    at = text.indexOf(`\n${prefix}`, end);
  }
  return out;
}

export function measureRankingChurn(o: ChurnOptions): ChurnResult {
  const durationMs = o.minutes * 60_000;
  const config = loadConfig({ flags: { 'log-level': 'silent' } });
  config.streams.rules = streamMappingRules();
  const { traffic } = runVirtual({
    devices: o.devices,
    speed: o.speed,
    seed: o.seed,
    durationMs,
    scenario: DEMO_SCENARIO,
    requestTimeoutMs: config.correlation.requestTimeout,
  });
  let now = traffic[0]?.t ?? 0;
  const start = now;
  const e = new Exporter({ config, logger: silentLogger(), clock: () => now, processMetrics: false });
  const ranking = new Set<string>();
  const p95 = new Set<string>();
  let previous = '';
  let scrapes = 0;
  let scrapesWithChange = 0;
  let rankingPerScrape = 0;
  let p95PerScrape = 0;
  let last: string[] = [];
  let nextSweep = start + SWEEP_MS;
  let nextScrape = start + o.scrapeMs;
  const advanceTo = (t: number) => {
    while (Math.min(nextSweep, nextScrape) <= t) {
      if (nextSweep <= nextScrape) {
        now = nextSweep;
        e.sweep();
        nextSweep += SWEEP_MS;
        continue;
      }
      now = nextScrape;
      e.sweep();
      const text = e.registry.render('text');
      const sets = labelSets(text, RANKING);
      for (const s of sets) ranking.add(s);
      const key = sets.join('|');
      if (scrapes > 0 && key !== previous) scrapesWithChange++;
      previous = key;
      rankingPerScrape = Math.max(rankingPerScrape, sets.length);
      const p = labelSets(text, P95);
      for (const s of p) p95.add(s);
      p95PerScrape = Math.max(p95PerScrape, p.length);
      last = sets;
      scrapes++;
      nextScrape += o.scrapeMs;
    }
    now = t;
  };
  const end = start + durationMs;
  for (const m of traffic) {
    if (m.t > end) break;
    advanceTo(m.t);
    e.handle(m.topic, typeof m.payload === 'string' ? Buffer.from(m.payload) : m.payload);
  }
  advanceTo(end);
  const symbolOf = (labels: string) => /symbol="([^"]*)"/.exec(labels)?.[1] ?? '';
  const rankOf = (labels: string) => Number(/rank="(\d+)"/.exec(labels)?.[1]);
  return {
    options: o,
    messages: e.messages,
    scrapes,
    rankingSeries: ranking.size,
    rankingSymbols: new Set([...ranking].map(symbolOf)).size,
    scrapesWithChange,
    rankingSeriesPerScrape: rankingPerScrape,
    p95Series: p95.size,
    p95SeriesPerScrape: p95PerScrape,
    lastRanking: [...last].sort((a, b) => rankOf(a) - rankOf(b)).map(symbolOf),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      scrape: { type: 'string', default: '15s' },
      devices: { type: 'string', default: '300' },
      speed: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
    },
  });
  const scrapeMs = parseDuration(values.scrape);
  if (scrapeMs === undefined)
    throw new Error(`--scrape: expected a duration such as 15s, got "${values.scrape}"`);
  const result = measureRankingChurn({
    minutes: Number(values.minutes),
    scrapeMs,
    devices: Number(values.devices),
    speed: Number(values.speed),
    seed: Number(values.seed),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
