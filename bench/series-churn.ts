/**
 * How many series a Prometheus scraping the demo creates, and which metrics create them: the
 * demo's fleet and faults (300 devices at 20x, TSLA answering in about 4 s, coingecko answering
 * nothing) run in simulated time, without broker or waiting, through an exporter whose clock is
 * the simulation's, scraped (text) every `--scrape` of simulated time. Every sample line of a
 * scrape is a series; the head keeps it as Prometheus 2.x does: a label set not in the head is a
 * new series, and when the head spans 3 hours its oldest 2 hours are cut off (aligned to 2 h) and
 * the series without a sample since are dropped, so one that comes back later is new again.
 *
 *   node --import tsx bench/series-churn.ts [--minutes 10] [--scrape 15s] [--devices 300] [--seed 1]
 *     [--ranking-metric false]
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
  /** `stats.rankingMetric`: whether the exporter sends the ranking at all. */
  rankingMetric: boolean;
}

export interface ChurnResult {
  options: ChurnOptions;
  messages: number;
  scrapes: number;
  /** Series in the head at the end of the first 30 minutes: the fleet's symbols, asked for early. */
  seriesAfter30Minutes: number;
  /** Series created over the whole run, and after the first 30 minutes (the churn). */
  seriesCreated: number;
  seriesCreatedAfter30Minutes: number;
  /** Series in the head at the end. */
  headSeries: number;
  /** Series created after the first 30 minutes, by metric name, most first. */
  churnByMetric: Record<string, number>;
  /** Distinct `{rank, symbol}` label sets of the ranking over the run, and their symbols. */
  rankingSeries: number;
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
const HOUR = 3_600_000;
/** Prometheus' head block range (2 h) and the span at which it compacts (1.5 ranges). */
const BLOCK_MS = 2 * HOUR;
const COMPACT_SPAN_MS = 3 * HOUR;

/** The series (the sample line without its value) of every sample line of a text exposition. */
function seriesOf(text: string, each: (series: string) => void): void {
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\n', at);
    const stop = end < 0 ? text.length : end;
    if (text.charCodeAt(at) !== 35 /* # */ && stop > at) each(text.slice(at, text.lastIndexOf(' ', stop)));
    at = stop + 1;
  }
}

function nameOf(series: string): string {
  const brace = series.indexOf('{');
  return brace < 0 ? series : series.slice(0, brace);
}

export function measureSeriesChurn(o: ChurnOptions): ChurnResult {
  const durationMs = o.minutes * 60_000;
  const config = loadConfig({ flags: { 'log-level': 'silent' } });
  config.streams.rules = streamMappingRules();
  config.stats.rankingMetric = o.rankingMetric;
  let now = 0;
  let start: number | undefined;
  const e = new Exporter({ config, logger: silentLogger(), clock: () => now, processMetrics: false });
  /** The head: series → time of its last sample. */
  const head = new Map<string, number>();
  let headMint = Number.NaN;
  let created = 0;
  let createdLater = 0;
  let after30 = 0;
  const churnByMetric = new Map<string, number>();
  const ranking = new Set<string>();
  const p95 = new Set<string>();
  let previous = '';
  let scrapes = 0;
  let scrapesWithChange = 0;
  let rankingPerScrape = 0;
  let p95PerScrape = 0;
  let last: string[] = [];
  let nextSweep = 0;
  let nextScrape = 0;

  const scrape = () => {
    const text = e.registry.render('text');
    if (Number.isNaN(headMint)) headMint = Math.floor(now / BLOCK_MS) * BLOCK_MS;
    if (now - headMint >= COMPACT_SPAN_MS) {
      headMint += BLOCK_MS;
      for (const [s, t] of head) if (t < headMint) head.delete(s);
    }
    const later = now - start! > 30 * 60_000;
    if (later && after30 === 0) after30 = head.size;
    const sets: string[] = [];
    let p = 0;
    seriesOf(text, (s) => {
      if (!head.has(s)) {
        created++;
        if (later) {
          createdLater++;
          const name = nameOf(s);
          churnByMetric.set(name, (churnByMetric.get(name) ?? 0) + 1);
        }
      }
      head.set(s, now);
      if (s.startsWith(RANKING)) {
        const labels = s.slice(RANKING.length, -1);
        sets.push(labels);
        ranking.add(labels);
      } else if (s.startsWith(P95)) {
        p95.add(s);
        p++;
      }
    });
    const key = sets.join('|');
    if (scrapes > 0 && key !== previous) scrapesWithChange++;
    previous = key;
    rankingPerScrape = Math.max(rankingPerScrape, sets.length);
    p95PerScrape = Math.max(p95PerScrape, p);
    last = sets;
    scrapes++;
  };

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
      scrape();
      nextScrape += o.scrapeMs;
    }
    now = t;
  };

  let end = Number.POSITIVE_INFINITY;
  runVirtual({
    devices: o.devices,
    speed: o.speed,
    seed: o.seed,
    durationMs,
    scenario: DEMO_SCENARIO,
    requestTimeoutMs: config.correlation.requestTimeout,
    onMessage: (t, topic, payload) => {
      if (start === undefined) {
        start = t;
        end = t + durationMs;
        now = t;
        nextSweep = t + SWEEP_MS;
        nextScrape = t + o.scrapeMs;
      }
      if (t > end) return;
      advanceTo(t);
      e.handle(topic, typeof payload === 'string' ? Buffer.from(payload) : payload);
    },
  });
  advanceTo(end);
  const symbolOf = (labels: string) => /symbol="([^"]*)"/.exec(labels)?.[1] ?? '';
  const rankOf = (labels: string) => Number(/rank="(\d+)"/.exec(labels)?.[1]);
  return {
    options: o,
    messages: e.messages,
    scrapes,
    seriesAfter30Minutes: after30,
    seriesCreated: created,
    seriesCreatedAfter30Minutes: createdLater,
    headSeries: head.size,
    churnByMetric: Object.fromEntries([...churnByMetric].sort((a, b) => b[1] - a[1])),
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
      'ranking-metric': { type: 'string', default: 'true' },
    },
  });
  const scrapeMs = parseDuration(values.scrape);
  if (scrapeMs === undefined)
    throw new Error(`--scrape: expected a duration such as 15s, got "${values.scrape}"`);
  const result = measureSeriesChurn({
    minutes: Number(values.minutes),
    scrapeMs,
    devices: Number(values.devices),
    speed: Number(values.speed),
    seed: Number(values.seed),
    rankingMetric: values['ranking-metric'] !== 'false',
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
