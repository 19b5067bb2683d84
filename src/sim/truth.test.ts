import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replayTraffic } from './replay.js';
import { classifyReply, type Outcome, type ReplyInfo, TruthLedger } from './truth.js';

const D = 'AABBCCDDEEFF';

function o(requests: number, responses: number, timeouts: number, errors: number, late: number): Outcome {
  return { requests, responses, timeouts, errors, late };
}

const update = (symbol: string) => classifyReply({ type: 'UPDATE', symbol });
const fresh = (symbol: string) => classifyReply({ type: 'NEW', symbol });
const stockError = (symbol?: string) => classifyReply({ type: 'STOCK_ERROR', symbol, message: 'x' });

test('classifies replies as the exporter does', () => {
  const c = (msg: Record<string, unknown>) => {
    const r = classifyReply(msg);
    return [r.cls, r.type, r.symbol ?? null, r.isNew, r.page];
  };
  assert.deepEqual(c({ type: 'UPDATE', symbol: 'AAPL' }), ['quote', 'UPDATE', 'AAPL', false, false]);
  assert.deepEqual(c({ type: 'NEW', symbol: 'AAPL' }), ['quote', 'NEW', 'AAPL', true, false]);
  assert.deepEqual(c({ mode: 'page', page: [] }), ['quote', 'PAGE', '_page', false, true]);
  assert.deepEqual(c({ type: 'NEW', mode: 'page' }), ['quote', 'NEW', '_page', true, true]);
  assert.deepEqual(c({ mode: 'page', error: 'down' }), ['error', 'PAGE_ERROR', null, false, true]);
  assert.deepEqual(c({ type: 'STOCK_ERROR', symbol: 'X' }), ['error', 'STOCK_ERROR', 'X', false, false]);
  assert.deepEqual(c({ type: 'INVALID_FORMAT' }), ['error', 'INVALID_FORMAT', null, false, false]);
  assert.deepEqual(c({ type: 'NO_CONFIG' }), ['nonquote', 'NO_CONFIG', null, false, false]);
  assert.deepEqual(c({ type: 'DEVICE_REG', code: '1' }), ['nonquote', 'DEVICE_REG', null, false, false]);
  assert.deepEqual(c({ type: 'UPDATE' }), ['nonquote', 'OTHER', null, false, false]);
  assert.deepEqual(c({ type: 'WHATEVER', symbol: 'Q' }), ['nonquote', 'OTHER', 'Q', false, false]);
});

test('a symbol-less request counts under the symbol its reply names, which becomes the shown symbol', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  assert.equal(l.reply(200, D, update('TSLA')), 'in-time');
  assert.equal(l.shown(D), 'TSLA');
  // Unanswered later: charged to the shown symbol.
  l.request(20_000, D, null);
  const t = l.finalize();
  assert.deepEqual(t.symbols, { TSLA: o(2, 1, 1, 0, 0) });
  assert.deepEqual(t.streams, { fxon: o(2, 1, 1, 0, 0) });
});

test('an unanswered symbol-less request of a device never answered counts under unknown', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  assert.equal(l.reply(10_500, D, update('TSLA')), 'late');
  assert.equal(l.shown(D), 'TSLA', 'a late quote reply to a symbol-less request sets the shown symbol');
  const t = l.finalize();
  assert.deepEqual(t.symbols, { unknown: o(1, 0, 1, 0, 1) });
  assert.deepEqual(t.streams, { unmapped: o(1, 0, 1, 0, 1) });
});

test('playlist: NEW answers the symbol-less request, UPDATE the request for its symbol', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  l.request(300, D, 'AAPL');
  l.request(600, D, 'TSLA');
  // UPDATE AAPL first: the AAPL request, although the symbol-less one is older.
  assert.equal(l.reply(700, D, update('AAPL')), 'in-time');
  // NEW TSLA: the symbol-less request, not the TSLA one.
  assert.equal(l.reply(800, D, fresh('TSLA')), 'in-time');
  assert.equal(l.shown(D), 'TSLA');
  assert.equal(l.pendingCount(D, 900), 1);
  // The TSLA request stays unanswered: a timeout under TSLA.
  const t = l.finalize();
  assert.deepEqual(t.symbols, { AAPL: o(1, 1, 0, 0, 0), TSLA: o(2, 1, 1, 0, 0) });
});

test('NEW with no symbol-less request pending takes the request for its symbol; UPDATE falls back to symbol-less', () => {
  const l = new TruthLedger();
  l.request(0, D, 'AAPL');
  assert.equal(l.reply(100, D, fresh('AAPL')), 'in-time');
  l.request(20_000, D, null);
  assert.equal(l.reply(20_100, D, update('MSFT')), 'in-time');
  assert.deepEqual(l.finalize().symbols, { AAPL: o(1, 1, 0, 0, 0), MSFT: o(1, 1, 0, 0, 0) });
});

test('an error with a symbol counts under it; one without under the shown symbol or unknown', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  assert.equal(l.reply(100, D, stockError('XYZ')), 'in-time');
  assert.equal(l.shown(D), undefined, 'errors do not set the shown symbol');
  l.request(20_000, D, null);
  assert.equal(l.reply(20_100, D, classifyReply({ type: 'INVALID_FORMAT' })), 'in-time');
  l.request(40_000, D, null);
  assert.equal(l.reply(40_100, D, update('AAPL')), 'in-time');
  l.request(60_000, D, null);
  assert.equal(l.reply(60_100, D, classifyReply({ type: 'INVALID_FORMAT' })), 'in-time');
  // An error naming a symbol with a request of its own pending takes that request first.
  l.request(80_000, D, null);
  l.request(80_300, D, 'QQQ');
  assert.equal(l.reply(80_400, D, stockError('QQQ')), 'in-time');
  const t = l.finalize();
  assert.deepEqual(t.symbols, {
    AAPL: o(3, 1, 1, 1, 0),
    QQQ: o(1, 0, 0, 1, 0),
    XYZ: o(1, 0, 0, 1, 0),
    unknown: o(1, 0, 0, 1, 0),
  });
});

test('a non-quote reply answers the oldest request and is counted apart', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  assert.equal(l.reply(60, D, classifyReply({ type: 'NO_CONFIG' })), 'in-time');
  const t = l.finalize();
  assert.equal(t.nonQuote, 1);
  assert.deepEqual(t.symbols, { unknown: o(1, 0, 0, 0, 0) });
});

test('page mode counts under _page; a page error is an error', () => {
  const l = new TruthLedger();
  l.request(0, D, null);
  assert.equal(l.reply(80, D, classifyReply({ mode: 'page', page: [] })), 'in-time');
  assert.equal(l.shown(D), '_page');
  l.request(20_000, D, null);
  assert.equal(l.reply(20_080, D, classifyReply({ mode: 'page', page: [], error: 'down' })), 'in-time');
  const t = l.finalize();
  assert.deepEqual(t.symbols, { _page: o(2, 1, 0, 1, 0) });
  assert.deepEqual(t.streams, { unmapped: o(2, 1, 0, 1, 0) });
});

test('late replies: within the late window after the timeout, once per request', () => {
  const l = new TruthLedger(10_000, 10_000);
  l.request(0, D, 'AAPL');
  // At exactly the timeout the request has timed out, whatever the sweep did.
  assert.equal(l.reply(10_000, D, update('AAPL')), 'late');
  assert.equal(l.reply(10_100, D, update('AAPL')), 'unmatched', 'a second reply to it is unmatched');
  l.request(30_000, D, 'AAPL');
  assert.equal(l.reply(50_001, D, update('AAPL')), 'unmatched', 'after the late window');
  const t = l.finalize();
  assert.deepEqual(t.symbols, { AAPL: o(2, 0, 2, 0, 1) });
  assert.equal(t.unmatched, 2);
});

test('a boot reply is neither a response nor unmatched, and sets the shown symbol', () => {
  const l = new TruthLedger();
  assert.equal(l.boot(0, D), true);
  assert.equal(l.reply(500, D, fresh('BTC')), 'boot');
  assert.equal(l.shown(D), 'BTC');
  assert.equal(l.reply(600, D, fresh('BTC')), 'unmatched', 'the first reply ended the boot');
  l.request(2000, D, null);
  const t = l.finalize();
  assert.deepEqual(t.symbols, { BTC: o(1, 0, 1, 0, 0) });
  assert.equal(t.unmatched, 1);
  assert.equal(t.reboots, 1);
});

test('reboots: boot messages once per boot, uptime drops not explained by one, no wraps', () => {
  const l = new TruthLedger();
  assert.equal(l.heartbeat(0, D, 5000), false, 'the first heartbeat reveals nothing');
  assert.equal(l.boot(100_000, D), true);
  assert.equal(l.boot(110_000, D), false, 're-sent while unanswered');
  l.reply(111_000, D, classifyReply({ type: 'NO_CONFIG' }));
  // The drop that follows is the boot already counted (booted about 2 s before its message).
  assert.equal(l.heartbeat(130_000, D, 32), false);
  // A reboot with no boot message: counted from the uptime.
  assert.equal(l.heartbeat(400_000, D, 300), false);
  assert.equal(l.heartbeat(500_000, D, 3), true);
  // Its boot message arriving afterwards within 120 s is the same reboot.
  assert.equal(l.boot(510_000, D), false);
  l.reply(511_000, D, classifyReply({ type: 'NO_CONFIG' }));
  // millis() wrapping is no reboot.
  assert.equal(l.heartbeat(600_000, D, 4_294_900), false);
  assert.equal(l.heartbeat(700_000, D, 30), false);
  assert.equal(l.finalize().reboots, 2);
});

test('replaying a capture counts the same as the ledger fed directly', () => {
  const traffic = [
    { t: 0, topic: 'TICKRMETERBOOT', payload: `{"type":"BOOT","device":"${D}"}` },
    { t: 10, topic: 'DEVICE_BOOTED', payload: `{"type":"BOOT","device":"${D}"}` },
    { t: 400, topic: D, payload: '{"type":"NEW","symbol":"AAPL","price":"$1.00"}' },
    { t: 2000, topic: 'DEVICESTATUS_RES', payload: `{"device":"${D}","uptime":"4","battery":"90"}` },
    { t: 3000, topic: 'STOCKPRICEUPDATE', payload: `{"type":"UPDATE","device":"${D}"}` },
    { t: 3300, topic: 'STOCKPRICEUPDATE', payload: `{"type":"UPDATE","device":"${D}","symbol":"MSFT"}` },
    { t: 3400, topic: D, payload: '{"type":"UPDATE","symbol":"MSFT"}' },
    { t: 14_000, topic: D, payload: '{"type":"NEW","symbol":"AAPL"}' },
    { t: 15_000, topic: 'LOG/AABBCCDDEEFF', payload: 'free text' },
  ];
  const t = replayTraffic(traffic);
  assert.deepEqual(t, {
    messages: 9,
    symbols: { AAPL: o(1, 0, 1, 0, 1), MSFT: o(1, 1, 0, 0, 0) },
    streams: { fxon: o(2, 1, 1, 0, 1) },
    reboots: 1,
    nonQuote: 0,
    unmatched: 0,
  });
});

test('finalize times out what is pending with the shown symbol and can be called twice', () => {
  const l = new TruthLedger();
  const r: ReplyInfo = update('SPY');
  l.request(0, D, null);
  l.reply(100, D, r);
  l.request(1000, D, null);
  l.request(1300, D, 'QQQ');
  l.messages = 5;
  const a = l.finalize();
  assert.deepEqual(a, {
    messages: 5,
    symbols: { QQQ: o(1, 0, 1, 0, 0), SPY: o(2, 1, 1, 0, 0) },
    streams: { finage: o(1, 0, 1, 0, 0), tradingview: o(2, 1, 1, 0, 0) },
    reboots: 0,
    nonQuote: 0,
    unmatched: 0,
  });
  assert.deepEqual(l.finalize(), a);
});
