import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../config/index.js';
import { Exporter } from '../exporter.js';
import { silentLogger } from '../log.js';
import type { StreamRule } from '../stats/index.js';
import { ApiState, deviceDetail } from './snapshot.js';
import { seriesEntries, seriesValue } from '../../test/helpers/series.js';

const A = 'AAAAAAAAAA01';
const B = 'AAAAAAAAAA02';
const C = 'AAAAAAAAAA03';

function setup(flags: Record<string, string> = {}, rules: StreamRule[] = []) {
  let t = 5_000;
  const config = loadConfig({ flags: { 'request-timeout': '10s', ...flags } });
  config.streams.rules = rules;
  const e = new Exporter({ config, logger: silentLogger(), clock: () => t, processMetrics: false });
  const send = (topic: string, p: object | string) =>
    e.handle(topic, Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)));
  const request = (device: string, symbol: string) =>
    send('STOCKPRICEUPDATE', { type: 'UPDATE', device, symbol });
  const reply = (device: string, symbol: string) => send(device, { type: 'UPDATE', symbol });
  const advance = (ms: number) => {
    t += ms;
    e.sweep();
  };
  return { e, send, request, reply, advance, now: () => t };
}

const RULES: StreamRule[] = [
  { pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' },
  { symbol: 'AAPL', stream: 'polygon' },
  { symbol: 'MSFT', stream: 'polygon' },
];

describe('symbol and stream objects', () => {
  test('one answered request and one timeout, as in the API documentation', () => {
    const x = setup({}, RULES);
    x.request(A, 'AAPL');
    x.advance(310);
    x.reply(A, 'AAPL');
    x.request(A, 'AAPL');
    x.advance(10_000);
    const snap = new ApiState(x.e.view).current();
    const j = snap.symbolDetail('AAPL')!;
    const p95 = j.window.p95LatencySeconds!;
    assert.ok(Math.abs(p95 - 0.31) / 0.31 <= 0.01, `p95 ${p95} within 1 % of 0.31`);
    assert.deepEqual(j, {
      generatedAt: snap.generatedAt,
      symbol: 'AAPL',
      stream: 'polygon',
      streamObserved: false,
      totals: {
        requests: 2,
        responses: 1,
        timeouts: 1,
        errors: 0,
        late: 0,
        interrupted: 0,
        nonQuote: 0,
        errorsByType: {},
      },
      window: {
        seconds: 300,
        requests: 2,
        responses: 1,
        errors: 0,
        timeouts: 1,
        late: 0,
        responseRate: 0.5,
        avgLatencySeconds: 0.31,
        p95LatencySeconds: p95,
        p99LatencySeconds: p95,
      },
      score: p95 + 0.5 * 10,
      health: 0,
      down: false,
      trend: 'unknown',
      trendDetail: {
        recentSamples: 1,
        baselineSamples: 0,
        recentMeanLatencySeconds: 0.31,
        baselineMeanLatencySeconds: null,
        latencyRatio: null,
        t: null,
        recentRequests: 2,
        baselineRequests: 0,
        recentFailureRate: 0.5,
        baselineFailureRate: null,
        z: null,
      },
    });
    assert.equal(
      j.totals.requests,
      seriesValue(x.e.registry, 'tickrmeter_stock_update_requests_total', 'AAPL'),
    );
    assert.equal(
      j.totals.timeouts,
      seriesValue(x.e.registry, 'tickrmeter_stock_update_timeout_total', 'AAPL'),
    );
  });

  test('a symbol that never answered: no latency is null, not NaN, in JSON', () => {
    const x = setup({}, RULES);
    x.request(A, 'BTC/USD');
    x.advance(10_000);
    const s = new ApiState(x.e.view)
      .current()
      .symbols({ sort: 'score', limit: 1, stream: 'coingecko', minRequests: 0 });
    const text = JSON.stringify(s);
    assert.doesNotMatch(text, /NaN/);
    assert.equal(s.symbols[0]!.symbol, 'BTC/USD');
    assert.equal(s.symbols[0]!.window.p95LatencySeconds, null);
    assert.equal(s.symbols[0]!.window.avgLatencySeconds, null);
    assert.equal(s.symbols[0]!.score, null, 'nothing answered: no score');
    assert.equal(s.symbols[0]!.health, 0);
    assert.equal(s.symbols[0]!.down, false, 'one request is too few to call it down');
  });

  test('errors by type add up; the stream has the same totals as its one symbol', () => {
    const x = setup({}, RULES);
    for (const type of ['STOCK_ERROR', 'STOCK_ERROR', 'INVALID_FORMAT']) {
      x.request(A, 'MSFT');
      x.advance(50);
      x.send(A, { type, symbol: 'MSFT', message: 'no' });
    }
    const snap = new ApiState(x.e.view).current();
    const sym = snap.symbolDetail('MSFT')!;
    assert.deepEqual(sym.totals.errorsByType, { STOCK_ERROR: 2, INVALID_FORMAT: 1 });
    assert.equal(sym.totals.errors, 3);
    const st = snap.stream('polygon')!;
    assert.deepEqual(st.totals, sym.totals);
    assert.deepEqual(
      st.symbolNames,
      ['AAPL', 'MSFT'].filter((n) => x.e.view.symbol(n) !== undefined),
    );
    assert.equal(st.symbols, 1);
    assert.equal(st.history.p95LatencySeconds.length, 60);
    assert.equal(st.history.responseRate.at(-1), 0);
  });

  test('an HTTPSTREAMSTOCKS hand-off moves a symbol to the stream it names', () => {
    const x = setup({}, RULES);
    x.request(A, 'XAU');
    x.send('HTTPSTREAMSTOCKS', {
      device: A,
      params: { getQuoteParams: { stream: 'commodities-api', symbol: 'XAU' } },
    });
    const sym = new ApiState(x.e.view).current().symbolDetail('XAU')!;
    assert.equal(sym.stream, 'commodities-api');
    assert.equal(sym.streamObserved, true);
  });
});

describe('snapshots', () => {
  test('at most one build per second, however many calls', () => {
    const x = setup();
    const state = new ApiState(x.e.view);
    const first = state.current();
    x.request(A, 'AAPL');
    x.advance(999);
    assert.equal(state.current(), first);
    assert.equal(state.current().stats.quotes.totals.requests, 0, 'the snapshot keeps its moment');
    assert.equal(state.builds, 1);
    x.advance(1);
    const second = state.current();
    assert.notEqual(second, first);
    assert.equal(second.stats.quotes.totals.requests, 1);
    assert.equal(state.builds, 2);
  });

  test('lists asked for twice in one snapshot are the same object', () => {
    const x = setup();
    x.request(A, 'AAPL');
    const snap = new ApiState(x.e.view).current();
    const q = { sort: 'requests', limit: 10, stream: undefined, minRequests: 0 } as const;
    assert.equal(snap.symbols(q), snap.symbols(q));
    assert.equal(
      snap.devices({ status: undefined, limit: 5 }),
      snap.devices({ status: undefined, limit: 5 }),
    );
  });

  test('message rate over at least ten seconds', () => {
    const x = setup();
    const state = new ApiState(x.e.view);
    assert.equal(state.current().stats.messages.perSecond, null, 'nothing to measure yet');
    for (let i = 0; i < 50; i++) x.send('DEVICESTATUS', { action: 'status' });
    x.advance(10_000);
    assert.equal(state.current().stats.messages.perSecond, 5);
    for (let i = 0; i < 20; i++) x.send('DEVICESTATUS', { action: 'status' });
    x.advance(4_000);
    assert.equal(state.current().stats.messages.perSecond, 70 / 14, 'no sample 10 s old but the first');
    x.advance(6_000);
    assert.equal(state.current().stats.messages.perSecond, 2, 'since the sample of 10 s ago');
  });
});

describe('stats', () => {
  test('fleet, messages and quote path totals', () => {
    const x = setup({ 'device-timeout': '60s' }, RULES);
    const state = new ApiState(x.e.view);
    x.send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '45p',
      device: A,
      battery: '78',
      isCharging: '1',
      iv: 'elec+HB',
      flashID: 'C84017',
    });
    x.send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '45p',
      device: B,
      battery: '5',
      isCharging: '0',
    });
    x.send('DEVICESTATUS_RES', { status: 'online', firmware_version: '70p', device: C });
    x.request(A, 'AAPL');
    x.advance(200);
    x.reply(A, 'AAPL');
    x.reply(A, 'AAPL'); // unmatched
    x.send('STOCKPRICEUPDATE', { type: 'UPDATE', device: B });
    x.send(B, { type: 'NO_CONFIG' });
    x.send('SOMETHING', 'x');
    x.advance(30_000);
    x.send('DEVICESTATUS_RES', { status: 'online', firmware_version: '45p', device: A });
    x.send('DEVICESTATUS_RES', { status: 'online', firmware_version: '45p', device: B });
    x.advance(31_000); // C, silent for 61 s, goes offline
    const s = state.current().stats;
    assert.deepEqual(s.messages.byKind, {
      request: 2,
      reply: 3,
      heartbeat: 5,
      boot: 0,
      device_booted: 0,
      http_stream_request: 0,
      status_poll: 0,
      log: 0,
      alert: 0,
      firmware_update: 0,
      unknown_topic: 1,
      invalid: 0,
    });
    assert.equal(s.messages.total, 11);
    assert.deepEqual(s.devices.byFirmware, [{ firmware: '45p', online: 2 }]);
    assert.deepEqual(s.devices.byVersion, [
      { firmware: '45p', innerVersion: 'elec+HB', flashId: 'C84017', online: 1 },
      { firmware: '45p', innerVersion: 'unknown', flashId: 'unknown', online: 1 },
    ]);
    assert.deepEqual(s.devices.charging, { charging: 1, not_charging: 1, unknown: 0 });
    assert.equal(s.devices.battery['70-79'], 1);
    assert.equal(s.devices.battery['0-9'], 1);
    assert.equal(s.devices.online, 2);
    assert.equal(s.devices.offline, 1);
    assert.equal(s.devices.tracked, 3);
    assert.equal(s.devices.recentlyOffline.length, 1);
    const off = s.devices.recentlyOffline[0]!;
    assert.equal(off.device, C);
    assert.equal(off.firmware, '70p');
    assert.equal(off.online, false);
    assert.equal(Date.parse(off.at) - Date.parse(off.lastHeardAt), 60_000);
    assert.deepEqual(s.quotes.totals, {
      requests: 2,
      responses: 1,
      timeouts: 0,
      errors: 0,
      late: 0,
      interrupted: 0,
      nonQuote: 1,
      unmatched: 1,
    });
    assert.equal(s.quotes.pending, 0);
    assert.equal(s.health, 100);
    assert.deepEqual(s.settings, {
      requestTimeoutSeconds: 10,
      windowSeconds: 300,
      objectiveResponseRate: 0.99,
      objectiveP95LatencySeconds: 2,
      rankingSize: 10,
      rankingMinRequests: 10,
    });
  });

  test('the worst symbols: the down ones first, then the ranking of the metrics', () => {
    const x = setup({}, RULES);
    for (let i = 0; i < 12; i++) {
      x.request(A, 'AAPL');
      x.request(B, 'MSFT');
      x.request(C, 'BTC/USD'); // never answered
      x.advance(100);
      x.reply(A, 'AAPL');
      x.advance(400);
      x.reply(B, 'MSFT');
      x.advance(10_000);
    }
    x.request(C, 'NVDA'); // too few requests to rank
    x.advance(10_000);
    const api = new ApiState(x.e.view);
    const s = api.current().stats;
    assert.deepEqual(
      s.worstSymbols.map((w) => [w.rank, w.symbol, w.down, w.score === null]),
      [
        [1, 'BTC/USD', true, true],
        [2, 'MSFT', false, false],
        [3, 'AAPL', false, false],
      ],
    );
    // The ranking as a scrape sets it.
    x.e.registry.render('text');
    assert.deepEqual(
      seriesEntries(x.e.registry, 'tickrmeter_slowest_symbols_ranking').map((r) => [
        Number(r.labels.rank),
        r.labels.symbol,
      ]),
      [
        [1, 'MSFT'],
        [2, 'AAPL'],
      ],
      'the metric ranks only the slow ones',
    );
    const list = api.current().symbols({ sort: 'score', limit: 10, stream: undefined, minRequests: 0 });
    assert.deepEqual(
      list.symbols.map((j) => [j.symbol, j.down]),
      [
        ['BTC/USD', true],
        ['MSFT', false],
        ['AAPL', false],
        ['NVDA', false],
        ['_other', false],
        ['_page', false],
        ['unknown', false],
      ],
    );
    const streams = api.current().streams.streams.map((j) => [j.stream, j.down]);
    assert.deepEqual(streams, [
      ['coingecko', true],
      ['polygon', false],
      ['unmapped', false],
    ]);
  });
});

describe('lists', () => {
  test('symbols: sorted, filtered by stream and window requests, limited, with the total', () => {
    const x = setup({}, RULES);
    for (let i = 0; i < 3; i++) x.request(A, 'AAPL');
    x.request(B, 'MSFT');
    x.request(C, 'ETH/USD');
    x.request(C, 'ETH/USD');
    x.advance(10_000);
    const snap = new ApiState(x.e.view).current();
    const names = (q: Parameters<typeof snap.symbols>[0]) => snap.symbols(q).symbols.map((s) => s.symbol);
    assert.deepEqual(names({ sort: 'requests', limit: 3, stream: undefined, minRequests: 0 }), [
      'AAPL',
      'ETH/USD',
      'MSFT',
    ]);
    assert.deepEqual(names({ sort: 'timeouts', limit: 10, stream: 'polygon', minRequests: 0 }), [
      'AAPL',
      'MSFT',
    ]);
    const r = snap.symbols({ sort: 'name', limit: 1, stream: undefined, minRequests: 2 });
    assert.equal(r.total, 2);
    assert.deepEqual(
      r.symbols.map((s) => s.symbol),
      ['AAPL'],
    );
    assert.equal(snap.symbols({ sort: 'score', limit: 5, stream: 'nope', minRequests: 0 }).total, 0);
  });

  test('streams by name, every field present', () => {
    const x = setup({}, RULES);
    x.request(A, 'AAPL');
    x.request(B, 'BTC/USD');
    const l = new ApiState(x.e.view).current().streams;
    assert.deepEqual(
      l.streams.map((s) => [s.stream, s.symbols, s.totals.requests]),
      [
        ['coingecko', 1, 1],
        ['polygon', 1, 1],
        ['unmapped', 3, 0],
      ],
    );
  });

  test('devices: most recently heard first, by status', () => {
    const x = setup({ 'device-timeout': '60s' });
    x.send('DEVICESTATUS_RES', { status: 'online', firmware_version: '45p', device: C, battery: '50' });
    x.advance(1000);
    x.request(A, 'AAPL');
    x.reply(A, 'AAPL'); // a reply on its topic confirms A (docs/fleet.md)
    x.advance(1000);
    x.request(B, 'MSFT');
    x.advance(58_500);
    x.reply(B, 'MSFT'); // B heard again; C silent for 60.5 s, A for 59.5 s
    const snap = new ApiState(x.e.view).current();
    const ids = (status?: 'online' | 'offline', limit = 10) =>
      snap.devices({ status, limit }).devices.map((d) => d.device);
    assert.deepEqual(ids(), [B, A, C]);
    assert.deepEqual(ids('online'), [B, A]);
    assert.deepEqual(ids('offline'), [C]);
    assert.deepEqual(ids(undefined, 1), [B]);
    assert.equal(snap.devices({ status: undefined, limit: 1 }).total, 3);
    const c = snap.devices({ status: 'offline', limit: 1 }).devices[0]!;
    assert.deepEqual(
      { ...c, firstHeardAt: '', lastHeardAt: '' },
      {
        device: C,
        online: false,
        firstHeardAt: '',
        lastHeardAt: '',
        silentSeconds: 60.5,
        offlineAfterSeconds: 60,
        firmware: '45p',
        innerVersion: 'unknown',
        flashId: 'unknown',
        battery: 50,
        charging: 'unknown',
        shownSymbol: null,
      },
    );
  });

  test('device detail: state and the latest outcomes', () => {
    const x = setup();
    x.send('STOCKPRICEUPDATE', { type: 'UPDATE', device: A });
    x.advance(250);
    x.send(A, { type: 'UPDATE', symbol: 'AAPL', interval: 120 });
    x.request(A, 'TSLA');
    x.advance(10_000);
    x.request(A, 'MSFT');
    const d = deviceDetail(x.e.view, A)!;
    assert.equal(d.shownSymbol, 'AAPL');
    assert.equal(d.pendingRequests, 1);
    assert.equal(d.updateIntervalSeconds, 120);
    assert.equal(d.offlineAfterSeconds, 600);
    assert.equal(d.messages, 4);
    assert.deepEqual(
      d.recentRequests.map((r) => [r.symbol, r.outcome, r.latencySeconds, r.replyType]),
      [
        ['AAPL', 'response', 0.25, 'UPDATE'],
        ['TSLA', 'timeout', null, ''],
      ],
    );
    assert.equal(deviceDetail(x.e.view, B), undefined);
  });

  test('trends: not stable, worst first, idle keys left out', () => {
    const x = setup({}, RULES);
    const pair = (device: string, symbol: string, ms: number) => {
      x.request(device, symbol);
      x.advance(ms);
      x.reply(device, symbol);
    };
    // Half an hour at 100 ms, then four minutes at 1 s for AAPL while MSFT stays at 100 ms.
    for (let i = 0; i < 60; i++) {
      pair(A, 'AAPL', 100);
      pair(B, 'MSFT', 100);
      x.advance(29_800);
    }
    for (let i = 0; i < 30; i++) {
      pair(A, 'AAPL', 1000);
      pair(B, 'MSFT', 100);
      x.advance(6_900);
    }
    x.request(C, 'BTC/USD');
    x.advance(10_000);
    const snap = new ApiState(x.e.view).current();
    const all = snap.trends({ limit: 100, kind: undefined, trend: undefined });
    assert.deepEqual(
      all.entries.map((t) => [t.kind, t.name, t.trend]),
      [
        // Same score (the p95 of both is AAPL's 1 s): more window requests first, then the name.
        ['stream', 'polygon', 'degrading'],
        ['symbol', 'AAPL', 'degrading'],
        ['symbol', 'BTC/USD', 'unknown'],
        ['stream', 'coingecko', 'unknown'],
      ],
    );
    const aapl = all.entries[1]!;
    assert.equal(aapl.stream, 'polygon');
    assert.equal(aapl.detail.recentMeanLatencySeconds, 1);
    assert.ok(Math.abs(aapl.detail.baselineMeanLatencySeconds! - 0.1) < 1e-12, 'a geometric mean of 0.1 s');
    assert.ok(aapl.detail.t! > 3 && aapl.detail.latencyRatio! > 1.5);
    const symbolsOnly = snap.trends({ limit: 1, kind: 'symbol', trend: 'unknown' });
    assert.equal(symbolsOnly.total, 1);
    assert.deepEqual(
      symbolsOnly.entries.map((t) => t.name),
      ['BTC/USD'],
    );
  });
});
