import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_STREAM_RULES } from '../config/index.js';
import { createCatalog } from '../metrics/index.js';
import { Registry } from '../export/index.js';
import { QuoteStats, type QuoteStatsConfig } from './quote-stats.js';
import { feedSymbol, QUOTE_STATS_CONFIG } from '../../test/helpers/quote-stats.js';

const CFG = QUOTE_STATS_CONFIG;

function setup(cfg: Partial<QuoteStatsConfig> = {}) {
  const reg = new Registry();
  return new QuoteStats(createCatalog(reg, [0.1, 1, 10]), { ...CFG, ...cfg });
}

describe('stream attribution', () => {
  test('rules in order: exact symbol or pattern, first match wins; else unmapped', () => {
    const q = setup();
    assert.equal(q.symbol('BTC/USD').stream.name, 'coingecko');
    assert.equal(q.symbol('XAU').stream.name, 'commodities-api');
    assert.equal(q.symbol('XAG').stream.name, 'never-reached-for-XAU');
    assert.equal(q.symbol('AAPL').stream.name, 'unmapped');
    assert.equal(q.unknownSymbol.stream.name, 'unmapped');
    assert.equal(q.pageSymbol.stream.name, 'unmapped');
  });

  test('the default rules: pairs to coingecko, the metals to commodities-api, the rest unmapped', () => {
    const q = setup({ streamRules: DEFAULT_STREAM_RULES });
    const streamOf = (symbols: string[]) => symbols.map((s) => q.symbol(s).stream.name);
    assert.deepEqual(streamOf(['BTC/USD', 'ETH/EUR', 'bitcoin/USD', 'binance-peg-dogecoin/EUR', 'XAU/USD']), [
      'coingecko',
      'coingecko',
      'coingecko',
      'coingecko',
      'coingecko',
    ]);
    assert.deepEqual(streamOf(['XAU', 'XAG', 'XPT', 'XPD']), [
      'commodities-api',
      'commodities-api',
      'commodities-api',
      'commodities-api',
    ]);
    assert.deepEqual(streamOf(['AAPL', 'BTC', 'NOVO.B', 'XAUX', '/USD', 'BTC/']), [
      'unmapped',
      'unmapped',
      'unmapped',
      'unmapped',
      'unmapped',
      'unmapped',
    ]);
  });

  test('an HTTPSTREAMSTOCKS hand-off outranks the rules, from then on', () => {
    const q = setup();
    const xau = q.symbol('XAU');
    q.request(xau);
    q.streamSeen('XAU', 'metals-live');
    q.request(xau);
    assert.equal(xau.stream.name, 'metals-live');
    assert.equal(xau.streamObserved, true);
    assert.equal(q.getStream('commodities-api')!.requests.value, 1);
    assert.equal(q.getStream('metals-live')!.requests.value, 1);
  });

  test('streams beyond the limit count under _other', () => {
    const q = setup({ maxStreams: 2, streamRules: [] });
    q.symbol('A');
    for (const s of ['s1', 's2', 's3']) {
      q.symbol(`SYM-${s}`);
      q.streamSeen(`SYM-${s}`, s);
    }
    assert.deepEqual(
      [...q.streamList()].map((s) => s.name),
      ['unmapped', 's1', '_other'],
    );
  });
});

describe('symbols', () => {
  test('beyond the limit, new symbols count under _other and the overflow is counted', () => {
    const q = setup({ maxSymbols: 2 });
    q.symbol('A');
    q.symbol('B');
    assert.equal(q.symbol('C').name, '_other');
    assert.equal(q.symbol('D').name, '_other');
    assert.equal(q.symbol('A').name, 'A');
    assert.equal(q.symbolCount, 5, 'two and the three reserved');
  });

  test('counters are the Prometheus series', () => {
    const reg = new Registry();
    const q = new QuoteStats(createCatalog(reg, [1]), CFG);
    const a = q.symbol('AAPL');
    q.request(a);
    q.response(a, 0.25, 1000);
    q.request(a);
    q.error(a, 'STOCK_ERROR', 2000);
    assert.match(reg.render('text'), /^tickrmeter_stock_update_requests_total\{symbol="AAPL"\} 2$/m);
    assert.match(
      reg.render('text'),
      /^tickrmeter_stock_update_errors_total\{symbol="AAPL",type="STOCK_ERROR"\} 1$/m,
    );
    assert.match(reg.render('text'), /^tickrmeter_stream_requests_total\{stream="unmapped"\} 2$/m);
    assert.equal(a.errors, 1);
  });
});

describe('ranking', () => {
  test('slowest first, at least the minimum requests, reserved names and down symbols left out', () => {
    const q = setup();
    const feed = (name: string, n: number, latency: number, timeouts = 0) =>
      feedSymbol(q, name, n, latency, timeouts);
    feed('TSLA', 20, 4);
    feed('AAPL', 20, 0.3);
    feed('MSFT', 14, 0.3, 6); // 0.3 + 0.3 x 10 = 3.3
    feed('FEW', 9, 9); // too few requests
    feed('unknown', 20, 8); // not a symbol
    feed('BTC/USD', 0, 0, 30); // down, not slow
    feed('KO', 20, 0.1);
    q.refresh(2000);
    assert.deepEqual(
      q.rankingNow().map((r) => [r.rank, r.symbol.name, Math.round(r.symbol.score * 10) / 10]), // p95 within 1 %
      [
        [1, 'TSLA', 4],
        [2, 'MSFT', 3.3],
        [3, 'AAPL', 0.3],
      ],
    );
  });
});

describe('worst symbols', () => {
  test('down symbols first (most window requests, then name), then the slow ones of the ranking', () => {
    const q = setup();
    const feed = (name: string, responses: number, latency: number, timeouts = 0, errors = 0) => {
      const s = name === 'unknown' ? q.unknownSymbol : q.symbol(name);
      for (let i = 0; i < responses; i++) {
        q.request(s);
        q.response(s, latency, 1000 + i);
      }
      for (let i = 0; i < timeouts; i++) {
        q.request(s);
        q.timeout(s, 1000 + i);
      }
      for (let i = 0; i < errors; i++) {
        q.request(s);
        q.error(s, 'STOCK_ERROR', 1000 + i);
      }
    };
    feed('TSLA', 20, 4);
    feed('AAPL', 20, 0.3);
    feed('MSFT', 14, 0.3, 6);
    feed('KO', 20, 0.1);
    feed('ETH/USD', 0, 0, 12);
    feed('BTC/USD', 0, 0, 12);
    feed('SOL/USD', 0, 0, 20);
    feed('XAU', 0, 0, 5, 10); // errors count as failures
    feed('XAG', 0, 0, 9); // too few requests to tell
    feed('unknown', 0, 0, 30); // not a symbol
    q.refresh(2000);
    const list = q.worstNow().map((r) => [r.rank, r.symbol.name, r.symbol.down]);
    assert.deepEqual(list, [
      [1, 'SOL/USD', true],
      [2, 'XAU', true],
      [3, 'BTC/USD', true],
      [4, 'TSLA', false],
      [5, 'MSFT', false],
      [6, 'AAPL', false],
    ]);
    assert.deepEqual(
      q.rankingNow().map((r) => [r.rank, r.symbol.name]),
      [
        [1, 'TSLA'],
        [2, 'MSFT'],
        [3, 'AAPL'],
      ],
      'the ranking of the metric keeps only the slow ones',
    );
    assert.equal(q.getSymbol('ETH/USD')!.down, true, 'down, past the three shown');
    assert.equal(q.getSymbol('XAG')!.down, false);
    assert.equal(q.unknownSymbol.down, true, 'the flag is set, but a reserved name is never listed');
    assert.equal(q.getStream('coingecko')!.down, true, 'streams carry the flag too');
    assert.equal(q.getStream('unmapped')!.down, false);
  });

  test('a down symbol that answers again is slow, not down', () => {
    const q = setup();
    const s = q.symbol('BTC/USD');
    for (let i = 0; i < 10; i++) {
      q.request(s);
      q.timeout(s, 1000);
    }
    q.refresh(2000);
    assert.deepEqual(
      q.worstNow().map((r) => [r.rank, r.symbol.name, r.symbol.down]),
      [[1, 'BTC/USD', true]],
    );
    q.request(s);
    q.response(s, 0.5, 2500);
    q.refresh(3000);
    assert.deepEqual(
      q.worstNow().map((r) => [r.rank, r.symbol.name, r.symbol.down]),
      [[1, 'BTC/USD', false]],
    );
    assert.deepEqual(
      q.rankingNow().map((r) => r.symbol.name),
      ['BTC/USD'],
    );
  });
});

describe('idle symbols are forgotten', () => {
  const IDLE = CFG.window.windowMs + CFG.trend.baselineMs;
  function withRegistry(cfg: Partial<QuoteStatsConfig> = {}) {
    const reg = new Registry();
    const cat = createCatalog(reg, [0.1, 1, 10]);
    return { q: new QuoteStats(cat, { ...CFG, ...cfg }), cat };
  }

  test('after the window and the trend baseline without a request: gone, series removed, counted', () => {
    const { q, cat } = withRegistry();
    const junk = q.symbol('JUNK');
    const busy = q.symbol('AAPL');
    q.request(junk);
    q.response(junk, 0.2, 0);
    q.error(junk, 'ERROR', 0);
    q.refresh(0);
    for (let t = 60_000; t <= IDLE + 60_000; t += 60_000) {
      q.request(busy);
      q.response(busy, 0.1, t);
      q.refresh(t);
    }
    assert.equal(q.getSymbol('JUNK'), undefined);
    assert.equal(junk.retired, true);
    assert.equal(q.getSymbol('AAPL'), busy);
    assert.equal(q.symbolCount, 4, 'AAPL and the three reserved symbols');
    assert.equal(cat.evictions.labels('idle_symbol').value, 1);
    for (const f of [cat.requests, cat.responses, cat.latency]) {
      assert.deepEqual(
        [...f.entries()].map((e) => e.labels.symbol),
        ['unknown', '_page', '_other', 'AAPL'],
      );
    }
    assert.deepEqual([...cat.errors.entries()].length, 0);
    // Back later, it starts anew.
    const again = q.symbol('JUNK');
    assert.notEqual(again, junk);
    assert.equal(again.requests.value, 0);
  });

  test('one minute short of the idle time it is kept', () => {
    const { q } = withRegistry();
    q.request(q.symbol('MSFT'));
    q.refresh(0);
    q.refresh(IDLE - 60_000);
    assert.notEqual(q.getSymbol('MSFT'), undefined);
  });

  test('junk symbols that filled the table make room again: a new real symbol gets its own series', () => {
    const { q, cat } = withRegistry({ maxSymbols: 100 });
    for (let i = 0; i < 100; i++) q.request(q.symbol(`JUNK${i}`));
    q.refresh(0);
    assert.equal(q.symbol('NVDA'), q.otherSymbol);
    q.refresh(IDLE + 1);
    assert.equal(cat.evictions.labels('idle_symbol').value, 100);
    assert.equal(q.symbol('NVDA').name, 'NVDA');
  });
});
