import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecodedMessage, decodeMessage } from '../decode/index.js';
import { classifyReplyPayload, type ReplyInfo } from '../sim/index.js';

/*
 * The decoder (scanner or JSON.parse, then the protocol's table) and the simulator's truth
 * (JSON.parse, then the same table) must give every reply payload the same class: random and
 * mutated payloads find where two readings of one protocol drift apart.
 */

const D = 'AABBCCDDEEFF';
const CLASS_NAME = ['quote', 'error', 'nonquote'] as const;
const OPTIONS = { maxPayloadBytes: 1 << 20 };
const out = new DecodedMessage();

/** The decoder's verdict in the truth's terms; undefined when the decoder drops the message. */
function decoded(payload: Buffer, parseOnly: boolean): string | undefined {
  if (!decodeMessage(D, payload, out, { ...OPTIONS, parseOnly })) return undefined;
  const symbol = out.isPage ? '_page' : (out.symbol ?? '-');
  return `${CLASS_NAME[out.replyClass]} ${out.replyType} page=${out.isPage} new=${out.isNew} ${symbol}`;
}

function truth(payload: Buffer): string | undefined {
  const r: ReplyInfo | undefined = classifyReplyPayload(payload.toString('utf8'));
  if (r === undefined) return undefined;
  const symbol = r.page ? '_page' : (r.symbol ?? '-');
  return `${r.cls} ${r.type} page=${r.page} new=${r.isNew} ${symbol}`;
}

function agree(payload: Buffer): boolean {
  const t = truth(payload);
  const scanned = decoded(payload, false);
  const parsed = decoded(payload, true);
  const what = `${JSON.stringify(payload.toString('utf8'))}: decoder (scanner, JSON.parse) against truth`;
  assert.deepEqual([scanned, parsed], [t, t], what);
  return true;
}

/** Replies as the backend sends them, every row of the reply-class table. */
const VALID: Record<string, unknown>[] = [
  { type: 'UPDATE', symbol: 'AAPL', price: '$185.23', p: 185.23, isPlaylist: true, updateInterval: 120 },
  { type: 'NEW', symbol: 'BTC/USD', price: '$41000.00', p: 41000, interval: 300 },
  { mode: 'page', page: [{ id: 1, ledColor: 'green', rev: 3 }], updateInterval: '300', ttl: 3091 },
  { type: 'NEW', mode: 'page', page: [], updateInterval: '300' },
  { mode: 'page', page: [], ttl: 0, error: 'page source unavailable' },
  { type: 'STOCK_ERROR', symbol: 'TSLA', message: 'polygon: 429' },
  { type: 'INVALID_FORMAT', message: 'Could not read the request' },
  { type: 'NO_CONFIG' },
  { type: 'DEVICE_REG', code: '123456' },
  { type: 'SUCCESS' },
  { type: 'WHATEVER', symbol: 'Q' },
];

const FIELDS = ['type', 'symbol', 'mode', 'error', 'updateInterval', 'interval', 'page', 'p'];

/** Values a field may be retyped to: the protocol's own words, edge values, wrong types. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    'UPDATE',
    'NEW',
    'page',
    'PAGE',
    'STOCK_ERROR',
    'INVALID_FORMAT',
    'NO_CONFIG',
    '',
    ' ',
    'false',
    '0',
    'AAPL',
    'x'.repeat(33),
    'A\u0001B',
    'A"B',
    'A\\B',
    'É€',
    true,
    false,
    null,
    0,
    -0,
    1,
    300,
    1e21,
  ),
  fc.constant({}),
  fc.constant([]),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 8 }),
);

type Mutation =
  | { op: 'remove'; field: string }
  | { op: 'set'; field: string; value: unknown }
  | { op: 'numberAsString'; field: string }
  | { op: 'duplicate'; field: string; value: unknown }
  | { op: 'escapeKey'; field: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('remove' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ op: fc.constant('set' as const), field: fc.constantFrom(...FIELDS), value: oddValue }),
  fc.record({ op: fc.constant('numberAsString' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ op: fc.constant('duplicate' as const), field: fc.constantFrom(...FIELDS), value: oddValue }),
  fc.record({ op: fc.constant('escapeKey' as const), field: fc.constantFrom(...FIELDS) }),
);

/** Applies the mutations to a copy of `base` and writes it out, duplicated and escaped keys included. */
function render(base: Record<string, unknown>, mutations: Mutation[], spaced: boolean): string {
  const o: Record<string, unknown> = { ...base };
  const extra: string[] = [];
  const escaped = new Set<string>();
  for (const m of mutations) {
    if (m.op === 'remove') delete o[m.field];
    else if (m.op === 'set') o[m.field] = m.value;
    else if (m.op === 'numberAsString' && typeof o[m.field] === 'number') o[m.field] = String(o[m.field]);
    else if (m.op === 'duplicate')
      extra.push(`${JSON.stringify(m.field)}:${JSON.stringify(m.value) ?? 'null'}`);
    else if (m.op === 'escapeKey') escaped.add(m.field);
  }
  const sep = spaced ? ' , ' : ',';
  const parts = Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      const key = escaped.has(k)
        ? `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${k.slice(1)}"`
        : JSON.stringify(k);
      return `${key}${spaced ? ' : ' : ':'}${JSON.stringify(v)}`;
    });
  return `{${[...parts, ...extra].join(sep)}}`;
}

const mutatedReply = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.array(mutation, { maxLength: 4 }),
    fc.boolean(),
    fc.option(fc.nat({ max: 400 }), { freq: 8 }),
  )
  .map(([base, mutations, spaced, cut]) => {
    const text = render(base, mutations, spaced);
    // Now and then a truncated payload, as a broken connection would leave it.
    return Buffer.from(cut === null ? text : text.slice(0, cut % (text.length + 1)));
  });

test('decoder and simulator truth classify 12,000 mutated replies alike', () => {
  fc.assert(fc.property(mutatedReply, agree), { numRuns: 12_000, seed: 20_231_203 });
});

test('decoder and simulator truth classify 5,000 random JSON documents alike', () => {
  const doc = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.constantFrom(...FIELDS, 'message', 'code'), oddValue, { maxKeys: 6 }),
  );
  fc.assert(
    fc.property(doc, (v) => agree(Buffer.from(JSON.stringify(v) ?? 'null'))),
    { numRuns: 5_000, seed: 7 },
  );
});

test('decoder and simulator truth classify 5,000 random byte strings alike', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // Valid text with one byte changed, so that most of it still reads as JSON.
    fc
      .tuple(fc.constantFrom(...VALID), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([base, at, byte]) => {
        const b = Buffer.from(JSON.stringify(base));
        b[at % b.length] = byte;
        return b;
      }),
  );
  fc.assert(
    fc.property(bytes, (b) => agree(Buffer.from(b))),
    { numRuns: 5_000, seed: 11 },
  );
});
