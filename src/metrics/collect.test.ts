import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '../export/index.js';
import { Fleet } from '../fleet/index.js';
import { QuoteStats } from '../stats/index.js';
import { createCatalog } from './catalog.js';
import { feedSymbol, QUOTE_STATS_CONFIG } from '../../test/helpers/quote-stats.js';
import { GaugeCollector } from './collect.js';

test('the slowness score: one stable series per rankable symbol, none for down, sparse or reserved ones', () => {
  const reg = new Registry();
  const cat = createCatalog(reg, [0.1, 1, 10]);
  const quotes = new QuoteStats(cat, { ...QUOTE_STATS_CONFIG, rankingSize: 1, streamRules: [] });
  const fleet = new Fleet({
    deviceTimeoutMs: 600_000,
    maxDevices: 10,
    bootMessageDelayMs: 10_000,
    maxLabelValues: 10,
    recentOfflineSize: 10,
  });
  const feed = (name: string, responses: number, latency: number, timeouts = 0) =>
    feedSymbol(quotes, name, responses, latency, timeouts);
  feed('TSLA', 20, 4);
  feed('MSFT', 14, 0.3, 6);
  feed('FEW', 9, 9);
  feed('unknown', 20, 8);
  feed('BTC/USD', 0, 0, 30);
  const collector = new GaugeCollector(
    cat,
    quotes,
    fleet,
    { devices: [], max: 0 },
    () => 2000,
    (ms) => ms,
  );
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
