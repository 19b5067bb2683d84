import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '../export/index.js';
import { Fleet } from '../fleet/index.js';
import { QuoteStats } from '../stats/index.js';
import { type Catalog, createCatalog } from './catalog.js';
import { feedSymbol, QUOTE_STATS_CONFIG } from '../../test/helpers/quote-stats.js';
import { GaugeCollector } from './collect.js';

function fleet(): Fleet {
  return new Fleet({
    deviceTimeoutMs: 600_000,
    maxDevices: 10,
    bootMessageDelayMs: 10_000,
    maxLabelValues: 10,
    recentOfflineSize: 10,
  });
}

/** A collector at t = 2 s, without per-device series. */
function collectorOf(cat: Catalog, quotes: QuoteStats, rankingMetric = true): GaugeCollector {
  return new GaugeCollector(
    cat,
    quotes,
    fleet(),
    { devices: [], max: 0 },
    () => 2000,
    (ms) => ms,
    rankingMetric,
  );
}

test('the slowness score: one stable series per rankable symbol, none for down, sparse or reserved ones', () => {
  const reg = new Registry();
  const cat = createCatalog(reg, [0.1, 1, 10]);
  const quotes = new QuoteStats(cat, { ...QUOTE_STATS_CONFIG, rankingSize: 1, streamRules: [] });
  const feed = (name: string, responses: number, latency: number, timeouts = 0) =>
    feedSymbol(quotes, name, responses, latency, timeouts);
  feed('TSLA', 20, 4);
  feed('MSFT', 14, 0.3, 6);
  feed('FEW', 9, 9);
  feed('unknown', 20, 8);
  feed('BTC/USD', 0, 0, 30);
  const collector = collectorOf(cat, quotes);
  const scores = () =>
    reg
      .render('text')
      .split('\n')
      .filter((l) => l.startsWith('tickrmeter_symbol_slowness_score{'))
      .map((l) => {
        const [series, value] = l.split(' ');
        return [series, Math.round(Number(value) * 10) / 10]; // p95 within 1 %
      });
  collector.collect();
  // A ranking of one: MSFT is not ranked, but keeps its score series.
  assert.deepEqual(scores(), [
    ['tickrmeter_symbol_slowness_score{symbol="TSLA"}', 4],
    ['tickrmeter_symbol_slowness_score{symbol="MSFT"}', 3.3],
  ]);
  feed('FEW', 1, 9);
  collector.collect();
  assert.deepEqual(
    scores().map(([s]) => s),
    [
      'tickrmeter_symbol_slowness_score{symbol="TSLA"}',
      'tickrmeter_symbol_slowness_score{symbol="MSFT"}',
      'tickrmeter_symbol_slowness_score{symbol="FEW"}',
    ],
  );
});

test('stats.rankingMetric false: the ranking keeps no series, the scores and the ranking itself stay', () => {
  const ranked = (rankingMetric: boolean) => {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10]);
    const quotes = new QuoteStats(cat, { ...QUOTE_STATS_CONFIG, streamRules: [] });
    feedSymbol(quotes, 'TSLA', 20, 4);
    feedSymbol(quotes, 'MSFT', 14, 0.3, 6);
    const collector = collectorOf(cat, quotes, rankingMetric);
    collector.collect();
    const lines = reg.render('text').split('\n');
    return {
      ranking: lines
        .filter((l) => l.startsWith('tickrmeter_slowest_symbols_ranking{'))
        .map((l) => l.split(' ')[0]),
      scores: lines.filter((l) => l.startsWith('tickrmeter_symbol_slowness_score{')).length,
      view: quotes.rankingNow().map((r) => r.symbol.name),
    };
  };
  assert.deepEqual(ranked(true), {
    ranking: [
      'tickrmeter_slowest_symbols_ranking{rank="1",symbol="TSLA"}',
      'tickrmeter_slowest_symbols_ranking{rank="2",symbol="MSFT"}',
    ],
    scores: 2,
    view: ['TSLA', 'MSFT'],
  });
  assert.deepEqual(ranked(false), { ranking: [], scores: 2, view: ['TSLA', 'MSFT'] });
});
