import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from '../export/index.js';
import { QuoteStats } from '../stats/index.js';
import { QUOTE_STATS_CONFIG } from '../../test/helpers/quote-stats.js';
import { createCatalog } from './catalog.js';

const CFG = QUOTE_STATS_CONFIG;

describe('native latency histograms', () => {
  test('a response counts in the native buckets of its symbol and its stream, schema 5, exactly', () => {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10], { histograms: 'native' });
    const q = new QuoteStats(cat, CFG);
    const btc = q.symbol('BTC/USD');
    const eth = q.symbol('ETH/USD');
    // The native buckets start at the first protobuf scrape.
    reg.renderBytes('protobuf');
    // Schema 5 buckets: 0.25 s is a bound (index -64); 0.26 s is in -62 (2^(-62/32) = 0.2612);
    // 4 s in 64, 4.05 s in 65; 0.0001 s is under the zero threshold 2^-11 s.
    for (const [s, v] of [
      [btc, 0.25],
      [btc, 0.26],
      [btc, 4],
      [btc, 4.05],
      [btc, 4.05],
      [eth, 0.0001],
      [eth, 0.25],
    ] as const) {
      q.request(s);
      q.response(s, v, 1000);
    }
    const zero = 2 ** -11;
    assert.deepEqual(cat.latency.labels('BTC/USD').nativeSnapshot(), {
      schema: 5,
      zeroThreshold: zero,
      zeroCount: 0,
      spans: [
        { offset: -64, length: 3 },
        { offset: 125, length: 2 },
      ],
      counts: [1, 0, 1, 1, 2],
    });
    assert.deepEqual(cat.streamLatency.labels(btc.stream.name).nativeSnapshot(), {
      schema: 5,
      zeroThreshold: zero,
      zeroCount: 1,
      spans: [
        { offset: -64, length: 3 },
        { offset: 125, length: 2 },
      ],
      counts: [2, 0, 1, 1, 2],
    });
    // The classic buckets are kept as before, for text scrapers.
    assert.deepEqual(
      reg.getFamily('tickrmeter_stock_update_latency_seconds')!.labels('BTC/USD'),
      btc.latency,
    );
    assert.deepEqual(cat.latency.labels('BTC/USD').snapshot().buckets, [0, 2, 5, 5]);
  });

  test('stats.histograms classic keeps no native buckets', () => {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10], { histograms: 'classic' });
    const q = new QuoteStats(cat, CFG);
    const s = q.symbol('AAPL');
    q.request(s);
    q.response(s, 0.3, 1000);
    assert.equal(cat.latency.labels('AAPL').native, null);
    assert.equal(cat.latency.labels('AAPL').nativeSnapshot(), undefined);
  });

  test('scraped only as text, no native buckets are kept; they start, empty, at the first protobuf scrape', () => {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10], { histograms: 'native' });
    const q = new QuoteStats(cat, CFG);
    const s = q.symbol('AAPL');
    const answer = (latency: number) => {
      q.request(s);
      q.response(s, latency, 1000);
    };
    answer(0.3);
    reg.render('text');
    assert.equal(cat.latency.labels('AAPL').native, null);
    assert.equal(cat.streamLatency.labels(s.stream.name).native, null);
    reg.renderBytes('protobuf');
    answer(0.5);
    answer(0.5);
    // From then on they count, with their own count and sum, beside the classic ones since start.
    const h = cat.latency.labels('AAPL');
    assert.deepEqual([h.native!.count, h.native!.sum], [2, 1]);
    assert.deepEqual(h.snapshot().count, 3);
    // A symbol first seen afterwards keeps native buckets from its first answer.
    const later = q.symbol('MSFT');
    q.request(later);
    q.response(later, 0.2, 1000);
    assert.equal(cat.latency.labels('MSFT').native!.count, 1);
  });

  test('the window latency gauges go beside classic buckets only, unless stats.windowLatencyGauges is always', () => {
    const WINDOW = [
      'tickrmeter_stock_update_avg_latency_seconds',
      'tickrmeter_stock_update_p95_latency_seconds',
      'tickrmeter_stock_update_p99_latency_seconds',
      'tickrmeter_stream_p95_latency_seconds',
    ];
    const carried = (options: Parameters<typeof createCatalog>[2], format: 'text' | 'protobuf') => {
      const reg = new Registry();
      const cat = createCatalog(reg, [0.1, 1, 10], options);
      const q = new QuoteStats(cat, CFG);
      const s = q.symbol('AAPL');
      q.request(s);
      q.response(s, 0.3, 1000);
      q.refresh(1000);
      for (const name of WINDOW)
        reg.getFamily(name)!.labels(name.includes('stream') ? s.stream.name : 'AAPL');
      // A text exposition names every family in its header: a sample line is what counts there.
      if (format === 'text') return WINDOW.filter((name) => reg.render('text').includes(`\n${name}{`));
      const bytes = Buffer.from(reg.renderBytes('protobuf'));
      return WINDOW.filter((name) => bytes.includes(name));
    };
    assert.deepEqual(carried({}, 'text'), WINDOW);
    assert.deepEqual(carried({}, 'protobuf'), []);
    assert.deepEqual(carried({ histograms: 'both' }, 'protobuf'), WINDOW);
    assert.deepEqual(carried({ histograms: 'classic' }, 'protobuf'), WINDOW);
    assert.deepEqual(carried({ windowLatencyGauges: 'always' }, 'protobuf'), WINDOW);
  });

  test("a symbol's late and interrupted counters render from their first count", () => {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10]);
    const q = new QuoteStats(cat, CFG);
    const s = q.symbol('AAPL');
    q.request(s);
    const before = reg.render('text');
    assert.match(before, /^tickrmeter_stock_update_timeout_total\{symbol="AAPL"\} 0$/m);
    assert.doesNotMatch(before, /^tickrmeter_stock_update_late_responses_total\{/m);
    assert.doesNotMatch(before, /^tickrmeter_stock_update_interrupted_total\{/m);
    // The stream's counters are there from the start, at zero.
    assert.match(
      before,
      new RegExp(`^tickrmeter_stream_late_responses_total\\{stream="${s.stream.name}"\\} 0$`, 'm'),
    );
    q.timeout(s, 1000);
    q.late(s, 1500);
    assert.match(reg.render('text'), /^tickrmeter_stock_update_late_responses_total\{symbol="AAPL"\} 1$/m);
  });
});
