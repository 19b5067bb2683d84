import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReplyClass } from '../decode/index.js';
import {
  Correlator,
  type CorrelatorConfig,
  type QuoteOutcomes,
  type ReplyFacts,
  type SymbolRef,
} from './correlator.js';

/** Records every verdict as `event:symbol[:type]` counts, plus latencies. */
class Recorder implements QuoteOutcomes {
  counts = new Map<string, number>();
  latencies: number[] = [];
  boots: number[] = [];
  hops: string[] = [];
  private syms = new Map<string, SymbolRef>();
  readonly unknownSymbol = { name: 'unknown' };
  readonly pageSymbol = { name: '_page' };
  symbol(name: string): SymbolRef {
    let s = this.syms.get(name);
    if (!s) {
      s = { name };
      this.syms.set(name, s);
    }
    return s;
  }
  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  request(sym: SymbolRef): void {
    this.add(`request:${sym.name}`);
  }
  response(sym: SymbolRef, latency: number): void {
    this.add(`response:${sym.name}`);
    this.latencies.push(latency);
  }
  error(sym: SymbolRef, type: string): void {
    this.add(`error:${sym.name}:${type}`);
  }
  nonQuote(sym: SymbolRef, type: string): void {
    this.add(`nonquote:${sym.name}:${type}`);
  }
  timeout(sym: SymbolRef): void {
    this.add(`timeout:${sym.name}`);
  }
  late(sym: SymbolRef): void {
    this.add(`late:${sym.name}`);
  }
  interrupted(sym: SymbolRef): void {
    this.add(`interrupted:${sym.name}`);
  }
  unmatched(type: string): void {
    this.add(`unmatched:${type}`);
  }
  bootToConfig(seconds: number): void {
    this.boots.push(seconds);
  }
  hop(stage: string, seconds: number): void {
    this.hops.push(`${stage}=${seconds}`);
  }
  eviction(what: string): void {
    this.add(`evicted:${what}`);
  }
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}

const CFG: CorrelatorConfig = {
  requestTimeoutMs: 10_000,
  lateWindowMs: 10_000,
  maxPendingPerDevice: 16,
  maxPendingTotal: 1000,
  maxDevices: 100,
};
const D = '142B2FEB7A10';

function setup(cfg: Partial<CorrelatorConfig> = {}) {
  const rec = new Recorder();
  return { rec, c: new Correlator({ ...CFG, ...cfg }, rec) };
}

function quote(symbol: string, type: 'UPDATE' | 'NEW' = 'UPDATE', device = D): ReplyFacts {
  return {
    device,
    symbol,
    replyClass: ReplyClass.Quote,
    replyType: type,
    isNew: type === 'NEW',
    isPage: false,
  };
}
function page(error = false): ReplyFacts {
  return {
    device: D,
    symbol: undefined,
    replyClass: error ? ReplyClass.Error : ReplyClass.Quote,
    replyType: error ? 'PAGE_ERROR' : 'PAGE',
    isNew: false,
    isPage: true,
  };
}
function other(type: string, cls: ReplyClass, symbol?: string): ReplyFacts {
  return { device: D, symbol, replyClass: cls, replyType: type, isNew: false, isPage: false };
}

describe('single-ticker device', () => {
  test('a symbol-less request counts under the symbol its reply names', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 1000);
    assert.deepEqual(rec.snapshot(), {}, 'not counted before its symbol is known');
    c.reply(quote('AAPL'), 1250);
    assert.deepEqual(rec.snapshot(), { 'request:AAPL': 1, 'response:AAPL': 1 });
    assert.deepEqual(rec.latencies, [0.25]);
    assert.equal(c.pendingRequests, 0);
  });

  test('an unanswered symbol-less request is charged to the shown symbol, else unknown', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.sweep(10_000);
    assert.deepEqual(rec.snapshot(), { 'request:unknown': 1, 'timeout:unknown': 1 });
    c.request(D, undefined, 20_000);
    c.reply(quote('TSLA'), 20_100);
    c.request(D, undefined, 140_000);
    c.sweep(149_999);
    assert.equal(rec.counts.get('timeout:TSLA'), undefined, 'not before 10 s');
    c.sweep(150_000);
    assert.equal(rec.counts.get('timeout:TSLA'), 1);
    assert.equal(rec.counts.get('request:TSLA'), 2);
  });
});

describe('playlist device', () => {
  test('a cycle of one symbol-less request and three symbol requests 300 ms apart pairs exactly', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.request(D, 'NTCT', 300);
    c.request(D, 'BITF', 600);
    c.request(D, 'PLTR', 900);
    // The backend answers the symbol-less request with NEW and the playlist's current symbol,
    // which is also in the playlist: NEW goes to the symbol-less request, UPDATE to the symbol's.
    c.reply(quote('BITF', 'NEW'), 400);
    c.reply(quote('NTCT'), 700);
    c.reply(quote('BITF'), 1000);
    c.reply(quote('PLTR'), 1300);
    assert.deepEqual(rec.snapshot(), {
      'request:BITF': 2,
      'request:NTCT': 1,
      'request:PLTR': 1,
      'response:BITF': 2,
      'response:NTCT': 1,
      'response:PLTR': 1,
    });
    assert.deepEqual(rec.latencies, [0.4, 0.4, 0.4, 0.4]);
    assert.equal(c.shownSymbol(D), 'BITF');
  });

  test('UPDATE for a symbol with no request of its own answers the symbol-less request', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.request(D, 'NTCT', 300);
    c.reply(quote('MSFT'), 500);
    assert.deepEqual(rec.snapshot(), { 'request:MSFT': 1, 'request:NTCT': 1, 'response:MSFT': 1 });
    assert.equal(c.pendingFor(D), 1);
  });

  test('NEW with no symbol-less request pending answers the request for its symbol', () => {
    const { rec, c } = setup();
    c.request(D, 'NTCT', 0);
    c.reply(quote('NTCT', 'NEW'), 200);
    assert.deepEqual(rec.snapshot(), { 'request:NTCT': 1, 'response:NTCT': 1 });
  });

  test('a reply naming a symbol no request asked for is unmatched', () => {
    const { rec, c } = setup();
    c.request(D, 'NTCT', 0);
    c.reply(quote('PLTR'), 200);
    assert.deepEqual(rec.snapshot(), { 'request:NTCT': 1, 'unmatched:UPDATE': 1 });
    assert.equal(c.pendingFor(D), 1);
  });
});

describe('replies without a symbol', () => {
  test('STOCK_ERROR answers the oldest pending request of any symbol', () => {
    const { rec, c } = setup();
    c.request(D, 'XYZ', 0);
    c.request(D, 'ABC', 300);
    c.reply(other('STOCK_ERROR', ReplyClass.Error), 500);
    assert.deepEqual(rec.snapshot(), { 'error:XYZ:STOCK_ERROR': 1, 'request:ABC': 1, 'request:XYZ': 1 });
  });

  test('STOCK_ERROR naming a symbol answers that symbol first', () => {
    const { rec, c } = setup();
    c.request(D, 'XYZ', 0);
    c.request(D, 'ABC', 300);
    c.reply(other('STOCK_ERROR', ReplyClass.Error, 'ABC'), 500);
    assert.deepEqual(rec.snapshot(), { 'error:ABC:STOCK_ERROR': 1, 'request:ABC': 1, 'request:XYZ': 1 });
  });

  test('an error to a symbol-less request counts under the shown symbol', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.reply(quote('TSLA'), 100);
    c.request(D, undefined, 120_000);
    c.reply(other('STOCK_ERROR', ReplyClass.Error), 120_300);
    assert.deepEqual(rec.snapshot(), { 'error:TSLA:STOCK_ERROR': 1, 'request:TSLA': 2, 'response:TSLA': 1 });
  });

  test('page mode counts under _page, with an error as PAGE_ERROR', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.reply(page(), 100);
    c.request(D, undefined, 300_000);
    c.reply(page(true), 300_200);
    c.request(D, undefined, 600_000);
    c.sweep(610_000);
    assert.deepEqual(rec.snapshot(), {
      'error:_page:PAGE_ERROR': 1,
      'request:_page': 3,
      'response:_page': 1,
      'timeout:_page': 1,
    });
  });

  test('NO_CONFIG and registration replies close the request without being quotes', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.reply(other('NO_CONFIG', ReplyClass.NonQuote), 50);
    c.request(D, undefined, 1000);
    c.reply(other('DEVICE_REG', ReplyClass.NonQuote), 1050);
    assert.deepEqual(rec.snapshot(), {
      'nonquote:unknown:DEVICE_REG': 1,
      'nonquote:unknown:NO_CONFIG': 1,
      'request:unknown': 2,
    });
    assert.equal(c.pendingRequests, 0);
  });
});

describe('timeouts, late and unmatched replies', () => {
  test('a reply after the timeout is late, never a response, and a second one is unmatched', () => {
    const { rec, c } = setup();
    c.request(D, 'AAPL', 0);
    c.reply(quote('AAPL'), 12_000);
    c.reply(quote('AAPL'), 12_500);
    assert.deepEqual(rec.snapshot(), {
      'late:AAPL': 1,
      'request:AAPL': 1,
      'timeout:AAPL': 1,
      'unmatched:UPDATE': 1,
    });
  });

  test('a reply at exactly the timeout is late; just before it is in time', () => {
    const { rec, c } = setup();
    c.request(D, 'A', 0);
    c.reply(quote('A'), 9_999);
    c.request(D, 'B', 20_000);
    c.reply(quote('B'), 30_000);
    assert.deepEqual(rec.snapshot(), {
      'late:B': 1,
      'request:A': 1,
      'request:B': 1,
      'response:A': 1,
      'timeout:B': 1,
    });
  });

  test('the sweep and the reply agree whatever the sweep phase', () => {
    for (const sweepAt of [null, 10_000, 15_000]) {
      const { rec, c } = setup();
      c.request(D, 'AAPL', 0);
      if (sweepAt !== null) c.sweep(sweepAt);
      c.reply(quote('AAPL'), 16_000);
      assert.deepEqual(
        rec.snapshot(),
        { 'late:AAPL': 1, 'request:AAPL': 1, 'timeout:AAPL': 1 },
        String(sweepAt),
      );
    }
  });

  test('timed-out requests are remembered for the late window, then forgotten', () => {
    const { rec, c } = setup();
    c.request(D, 'AAPL', 0);
    c.sweep(19_999);
    c.reply(quote('AAPL'), 19_999);
    c.request(D, 'AAPL', 30_000);
    c.sweep(50_000);
    c.reply(quote('AAPL'), 50_000);
    assert.deepEqual(rec.snapshot(), {
      'late:AAPL': 1,
      'request:AAPL': 2,
      'timeout:AAPL': 2,
      'unmatched:UPDATE': 1,
    });
  });

  test('a late reply to a symbol-less request counts under the symbol it was charged to', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.reply(quote('TSLA'), 100);
    c.request(D, undefined, 60_000);
    c.reply(quote('TSLA'), 71_000);
    assert.deepEqual(rec.snapshot(), {
      'late:TSLA': 1,
      'request:TSLA': 2,
      'response:TSLA': 1,
      'timeout:TSLA': 1,
    });
  });

  test('a reply to a device never heard from is unmatched', () => {
    const { rec, c } = setup();
    c.reply(quote('AAPL'), 0);
    assert.deepEqual(rec.snapshot(), { 'unmatched:UPDATE': 1 });
  });

  test('a pending request is preferred to a timed-out one', () => {
    const { rec, c } = setup();
    c.request(D, 'AAPL', 0);
    c.request(D, 'AAPL', 12_000);
    c.reply(quote('AAPL'), 12_100);
    assert.deepEqual(rec.snapshot(), { 'request:AAPL': 2, 'response:AAPL': 1, 'timeout:AAPL': 1 });
  });
});

describe('boot flow', () => {
  test('boot to first reply is timed from the first boot message, re-sends ignored', () => {
    const { rec, c } = setup();
    c.boot(D, 1000);
    c.deviceBooted(D, 1200);
    c.boot(D, 11_000);
    c.reply(quote('TSLA', 'NEW'), 12_000);
    assert.deepEqual(rec.boots, [11]);
    assert.deepEqual(rec.hops, ['boot_to_device_booted=0.2', 'device_booted_to_reply=10.8']);
    assert.deepEqual(rec.snapshot(), {}, 'the boot reply is neither a response nor unmatched');
    assert.equal(c.shownSymbol(D), 'TSLA', 'the boot reply tells the shown symbol');
    c.reply(quote('TSLA'), 13_000);
    assert.deepEqual(rec.snapshot(), { 'unmatched:UPDATE': 1 });
  });

  test('a NO_CONFIG boot reply ends the boot', () => {
    const { rec, c } = setup();
    c.boot(D, 0);
    c.reply(other('NO_CONFIG', ReplyClass.NonQuote), 500);
    assert.deepEqual(rec.boots, [0.5]);
    assert.deepEqual(rec.snapshot(), {});
  });
});

describe('HTTPSTREAMSTOCKS hops', () => {
  test('the hand-off is timed from the request and to the reply', () => {
    const { rec, c } = setup();
    c.request(D, 'XAU', 0);
    c.httpStream(D, 'XAU', 100);
    c.reply(quote('XAU'), 600);
    assert.deepEqual(rec.hops, ['request_to_http_stream=0.1', 'http_stream_to_reply=0.5']);
  });
});

describe('connection loss', () => {
  test('requests pending at a disconnect are interrupted, not timed out', () => {
    const { rec, c } = setup();
    c.request(D, undefined, 0);
    c.reply(quote('TSLA'), 100);
    c.request(D, undefined, 60_000);
    c.request(D, 'AAPL', 60_300);
    c.interruptAll(61_000);
    c.sweep(200_000);
    assert.deepEqual(rec.snapshot(), {
      'interrupted:AAPL': 1,
      'interrupted:TSLA': 1,
      'request:AAPL': 1,
      'request:TSLA': 2,
      'response:TSLA': 1,
    });
    assert.equal(c.pendingRequests, 0);
  });
});

describe('recent outcomes per device', () => {
  test('the latest ten, oldest first, with their symbol and latency', () => {
    const { c } = setup();
    c.request(D, undefined, 0);
    c.reply(quote('TSLA'), 250);
    c.request(D, 'AAPL', 1000);
    c.sweep(11_000);
    c.reply(quote('AAPL'), 12_000);
    assert.deepEqual(
      c.recentFor(D).map((o) => [o.symbol, o.outcome, o.latencySeconds]),
      [
        ['TSLA', 'response', 0.25],
        ['AAPL', 'timeout', Number.NaN],
        ['AAPL', 'late', 11],
      ],
    );
    for (let i = 0; i < 12; i++) {
      c.request(D, `S${i}`, 20_000 + i);
      c.reply(quote(`S${i}`), 20_100 + i);
    }
    const recent = c.recentFor(D);
    assert.equal(recent.length, 10);
    assert.equal(recent[0]!.symbol, 'S2');
    assert.equal(recent[9]!.symbol, 'S11');
  });
});

describe('bounds', () => {
  test('pending requests per device are capped, the oldest evicted', () => {
    const { rec, c } = setup({ maxPendingPerDevice: 16 });
    for (let i = 0; i < 20; i++) c.request(D, `S${i}`, i);
    assert.equal(c.pendingFor(D), 16);
    assert.equal(rec.counts.get('evicted:pending_request'), 4);
    c.sweep(100_000);
    assert.equal(rec.counts.get('timeout:S0'), undefined);
    assert.equal(rec.counts.get('timeout:S4'), 1);
  });

  test('pending requests in all are capped', () => {
    const { rec, c } = setup({ maxPendingTotal: 3 });
    c.request('000000000001', 'A', 0);
    c.request('000000000002', 'A', 1);
    c.request('000000000003', 'A', 2);
    c.request('000000000004', 'A', 3);
    assert.equal(c.pendingRequests, 3);
    assert.equal(rec.counts.get('evicted:pending_request'), 1);
  });

  test('a flood of new device ids stays within the device cap', () => {
    const { rec, c } = setup({ maxDevices: 100 });
    for (let i = 0; i < 10_000; i++) c.request(i.toString(16).toUpperCase().padStart(12, '0'), 'A', i);
    assert.equal(c.trackedDevices, 100);
    assert.equal(c.pendingRequests, 100);
    assert.equal(rec.counts.get('evicted:device_correlation'), 9900);
  });

  test('past the cap, devices are evicted 1 % of the cap at a time, and each eviction is counted', () => {
    const { rec, c } = setup({ maxDevices: 1000 });
    for (let i = 0; i < 10_005; i++) c.request(i.toString(16).toUpperCase().padStart(12, '0'), 'A', i);
    // 1,000 fill the cap; every 10 new ones past it free 10 slots at once.
    assert.equal(c.trackedDevices, 995);
    assert.equal(rec.counts.get('evicted:device_correlation'), 10_005 - 995);
    assert.equal(rec.counts.get('evicted:pending_request'), 10_005 - 995);
    assert.equal(c.pendingRequests, 995);
  });
});
