import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamMappingRules } from './index.js';
import { loadProfile, profileSymbols } from './profile.js';
import { HASHED_STREAMS, streamOf } from './streams.js';

test('streamOf follows the symbol form, the HTTP-polled list, then a hash', () => {
  assert.equal(streamOf('BTC/USD'), 'coingecko');
  assert.equal(streamOf('bitcoin/EUR'), 'coingecko');
  assert.equal(streamOf('XAU/USD'), 'coingecko');
  assert.equal(streamOf('XAU'), 'commodities-api');
  assert.equal(streamOf('XAG'), 'commodities-api');
  assert.equal(streamOf('DK1'), 'electricity');
  assert.equal(streamOf('MY-PORTFOLIO'), 'custom-api');
  assert.equal(streamOf('TSLA'), 'fxon');
  assert.equal(streamOf('BTC'), 'polygon');
  assert.equal(streamOf('SPY'), 'tradingview');
  assert.equal(streamOf('NVDA'), 'finage');
  assert.equal(streamOf('_page'), 'unmapped');
  assert.equal(streamOf('unknown'), 'unmapped');
});

test('the mapping rules reproduce streamOf for every symbol the simulator can use', () => {
  const profile = loadProfile();
  const symbols = profileSymbols(profile);
  const rules = streamMappingRules(profile);
  assert.equal(rules.length, 3429);
  const bySymbol = new Map<string, string>();
  for (const r of rules) {
    assert.equal(r.pattern, undefined);
    assert.ok(r.symbol !== undefined, 'r.symbol !== undefined');
    assert.ok(!bySymbol.has(r.symbol), `one rule per symbol: ${r.symbol}`);
    bySymbol.set(r.symbol, r.stream);
  }
  for (const s of symbols) assert.equal(bySymbol.get(s), streamOf(s), s);
  const used = new Set(rules.map((r) => r.stream));
  for (const s of [...HASHED_STREAMS, 'coingecko', 'commodities-api', 'electricity', 'custom-api']) {
    assert.ok(used.has(s), `${s} is used`);
  }
  assert.deepEqual(streamMappingRules(), rules);
});
