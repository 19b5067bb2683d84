import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '../export/index.js';
import { Fleet } from '../fleet/index.js';
import { QuoteStats } from '../stats/index.js';
import { createCatalog } from './catalog.js';
import { GaugeCollector } from './collect.js';

test('the slowness score: one stable series per rankable symbol, none for down, sparse or reserved ones', () => {
  const reg = new Registry();
  const cat = createCatalog(reg, [0.1, 1, 10]);
  const quotes = new QuoteStats(cat, {
    window: { windowMs: 300_000, slots: 10 },
    trend: { recentMs: 300_000, baselineMs: 3_600_000 },
    objectives: { responseRate: 0.99, p95Seconds: 2 },
    requestTimeoutMs: 10_000,
    maxSymbols: 100,
    maxStreams: 10,
    rankingSize: 1,
    rankingMinRequests: 10,
    streamRules: [],
  });
  const fleet = new Fleet({
    deviceTimeoutMs: 600_000,
    maxDevices: 10,
    bootMessageDelayMs: 10_000,
    maxLabelValues: 10,
    recentOfflineSize: 10,
  });
  const feed = (name: string, responses: number, latency: number, timeouts = 0) => {
    const s = name === 'unknown' ? quotes.unknownSymbol : quotes.symbol(name);
    for (let i = 0; i < responses; i++) {
      quotes.request(s);
      quotes.response(s, latency, 1000 + i);
    }
    for (let i = 0; i < timeouts; i++) {
      quotes.request(s);
      quotes.timeout(s, 1000 + i);
    }
  };
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
