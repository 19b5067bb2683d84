import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CorrelationModel, type ModelReply } from '../../test/helpers/correlation-model.js';
import { ReplyClass } from '../decode/index.js';
import { Correlator, type QuoteOutcomes, type SymbolRef } from './correlator.js';

/** Counts the correlator's verdicts under the model's keys. */
class Verdicts implements QuoteOutcomes {
  readonly counts = new Map<string, number>();
  private readonly refs = new Map<string, SymbolRef>();
  readonly unknownSymbol = this.symbol('unknown');
  readonly pageSymbol = this.symbol('_page');
  symbol(name: string): SymbolRef {
    let s = this.refs.get(name);
    if (s === undefined) {
      s = { name };
      this.refs.set(name, s);
    }
    return s;
  }
  private add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  request(s: SymbolRef): void {
    this.add(`request:${s.name}`);
  }
  response(s: SymbolRef): void {
    this.add(`response:${s.name}`);
  }
  error(s: SymbolRef, type: string): void {
    this.add(`error:${s.name}:${type}`);
  }
  nonQuote(s: SymbolRef, type: string): void {
    this.add(`non_quote:${s.name}:${type}`);
  }
  timeout(s: SymbolRef): void {
    this.add(`timeout:${s.name}`);
  }
  late(s: SymbolRef): void {
    this.add(`late:${s.name}`);
  }
  interrupted(s: SymbolRef): void {
    this.add(`interrupted:${s.name}`);
  }
  unmatched(type: string): void {
    this.add(`unmatched:${type}`);
  }
  bootToConfig(): void {
    this.add('boot_to_config');
  }
  hop(): void {}
  eviction(what: string): void {
    this.add(`evicted:${what}`);
  }
}

/** `npm run chaos` raises this to run a million operations and more; CI runs the default. */
const RUNS = Number(process.env.TKMPROM_PROPERTY_RUNS ?? 3_000);

const T = 10_000;
const L = 10_000;
const DEVICES = ['142B2FEB7A10', 'BBBBBBBBBBBB', '000000000001'];
const SYMBOLS = ['TSLA', 'AAPL', 'BTC/USD'];

type Op =
  | { op: 'request'; dt: number; device: number; symbol: number | null }
  | { op: 'reply'; dt: number; device: number; reply: number; symbol: number | null }
  | { op: 'boot'; dt: number; device: number }
  | { op: 'sweep'; dt: number }
  | { op: 'interrupt'; dt: number };

/** The replies of docs/correlation.md's table, as the decoder hands them over. */
const REPLIES: Omit<ModelReply, 'device' | 'symbol'>[] = [
  { kind: 'quote', type: 'UPDATE', isNew: false, isPage: false },
  { kind: 'quote', type: 'NEW', isNew: true, isPage: false },
  { kind: 'quote', type: 'PAGE', isNew: false, isPage: true },
  { kind: 'error', type: 'PAGE_ERROR', isNew: false, isPage: false },
  { kind: 'error', type: 'STOCK_ERROR', isNew: false, isPage: false },
  { kind: 'error', type: 'INVALID_FORMAT', isNew: false, isPage: false },
  { kind: 'non_quote', type: 'NO_CONFIG', isNew: false, isPage: false },
  { kind: 'non_quote', type: 'OTHER', isNew: false, isPage: false },
];

// Mostly short steps (replies within the timeout), sometimes long ones (timeouts, late windows).
const dt = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 3_000, max: 12_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, T - 1, T, T + 1, T + L - 1, T + L, 25_000) },
);
const device = fc.integer({ min: 0, max: DEVICES.length - 1 });
const symbol = fc.option(fc.integer({ min: 0, max: SYMBOLS.length - 1 }), { nil: null, freq: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('request' as const), dt, device, symbol }) },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('reply' as const),
      dt,
      device,
      reply: fc.integer({ min: 0, max: REPLIES.length - 1 }),
      symbol,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('boot' as const), dt, device }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const), dt }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('interrupt' as const), dt }) },
);

const CLASS: Record<ModelReply['kind'], ReplyClass> = {
  quote: ReplyClass.Quote,
  error: ReplyClass.Error,
  non_quote: ReplyClass.NonQuote,
};

function run(ops: readonly Op[]): {
  model: Map<string, number>;
  correlator: Map<string, number>;
  pending: [number, number];
} {
  const model = new CorrelationModel(T, L);
  const verdicts = new Verdicts();
  const correlator = new Correlator(
    {
      requestTimeoutMs: T,
      lateWindowMs: L,
      maxPendingPerDevice: 10_000,
      maxPendingTotal: 1_000_000,
      maxDevices: 1_000,
    },
    verdicts,
  );
  let now = 1_000;
  for (const o of ops) {
    now += o.dt;
    switch (o.op) {
      case 'request': {
        const s = o.symbol === null ? undefined : SYMBOLS[o.symbol];
        model.request(DEVICES[o.device]!, s, now);
        correlator.request(DEVICES[o.device]!, s, now);
        break;
      }
      case 'reply': {
        const shape = REPLIES[o.reply]!;
        // Page-mode replies carry no symbol; every other kind may or may not.
        const s = shape.isPage || o.symbol === null ? undefined : SYMBOLS[o.symbol];
        // A quote reply without a symbol is no quote (docs/correlation.md): it is OTHER.
        const r: ModelReply =
          shape.kind === 'quote' && !shape.isPage && s === undefined
            ? {
                device: DEVICES[o.device]!,
                kind: 'non_quote',
                type: 'OTHER',
                symbol: undefined,
                isNew: false,
                isPage: false,
              }
            : { ...shape, device: DEVICES[o.device]!, symbol: s };
        model.reply(r, now);
        correlator.reply(
          {
            device: r.device,
            symbol: r.symbol,
            replyClass: CLASS[r.kind],
            replyType: r.type,
            isNew: r.isNew,
            isPage: r.isPage,
          },
          now,
        );
        break;
      }
      case 'boot':
        model.boot(DEVICES[o.device]!, now);
        correlator.boot(DEVICES[o.device]!, now);
        break;
      case 'sweep':
        model.sweep(now);
        correlator.sweep(now);
        break;
      case 'interrupt':
        model.interruptAll();
        correlator.interruptAll(now);
        break;
    }
  }
  return {
    model: model.counts,
    correlator: verdicts.counts,
    pending: [model.pendingCount(), correlator.pendingRequests],
  };
}

const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));

describe('the correlator against the reference model of docs/correlation.md', () => {
  test('every sequence of requests, replies of every class, boots, sweeps and drops gets the same verdicts', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), (ops) => {
        const r = run(ops);
        assert.deepEqual(sorted(r.correlator), sorted(r.model));
        assert.equal(r.pending[1], r.pending[0]);
      }),
      { numRuns: RUNS, seed: 20261203 },
    );
  });

  test('the identity of docs/correlation.md holds per symbol: requests = outcomes + pending', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), (ops) => {
        const { correlator: c, pending } = run(ops);
        let requests = 0;
        let outcomes = 0;
        for (const [key, n] of c) {
          const verdict = key.split(':')[0]!;
          if (verdict === 'request') requests += n;
          else if (['response', 'error', 'non_quote', 'timeout', 'interrupted'].includes(verdict))
            outcomes += n;
        }
        // Symbol-less requests still pending are counted under no symbol yet.
        assert.ok(requests <= outcomes + pending[1]);
        assert.ok(requests >= outcomes);
        for (const s of [...SYMBOLS, 'unknown', '_page'])
          assert.ok((c.get(`late:${s}`) ?? 0) <= (c.get(`timeout:${s}`) ?? 0));
      }),
      { numRuns: Math.ceil(RUNS / 3), seed: 7 },
    );
  });
});
