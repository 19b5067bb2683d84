import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BadRequest,
  checkParams,
  intParam,
  parseApiPath,
  parseDeviceQuery,
  parseSymbolQuery,
  parseTrendQuery,
} from './query.js';

const q = (s: string) => new URLSearchParams(s);

function badParam(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BadRequest, `expected BadRequest, got ${err}`);
    return `${err.parameter}: ${err.message}`;
  }
  assert.fail('expected a BadRequest');
}

describe('query parameters', () => {
  test('symbols: defaults', () => {
    assert.deepEqual(parseSymbolQuery(q('')), {
      sort: 'score',
      limit: 100,
      stream: undefined,
      minRequests: 0,
    });
  });

  test('symbols: every parameter', () => {
    assert.deepEqual(parseSymbolQuery(q('sort=timeouts&limit=5&stream=coingecko&minRequests=10')), {
      sort: 'timeouts',
      limit: 5,
      stream: 'coingecko',
      minRequests: 10,
    });
  });

  test('bad values name the parameter', () => {
    assert.equal(
      badParam(() => parseSymbolQuery(q('sort=latency'))),
      'sort: sort: expected one of score, requests, timeouts, name, got "latency"',
    );
    assert.equal(
      badParam(() => parseSymbolQuery(q('limit=0'))),
      'limit: limit: expected an integer from 1 to 10000, got "0"',
    );
    for (const v of ['', '-1', '1.5', '1e3', '10abc', ' 5', '10001', '0x10', '99999999999']) {
      assert.match(
        badParam(() => parseSymbolQuery(q(`limit=${encodeURIComponent(v)}`))),
        /^limit: /,
        v,
      );
    }
    assert.match(
      badParam(() => parseSymbolQuery(q('stream='))),
      /^stream: /,
    );
    assert.match(
      badParam(() => parseDeviceQuery(q('status=gone'))),
      /^status: .*online, offline/,
    );
    assert.match(
      badParam(() => parseTrendQuery(q('trend=stable'))),
      /^trend: .*degrading, improving, unknown/,
    );
    assert.match(
      badParam(() => parseTrendQuery(q('kind=device'))),
      /^kind: /,
    );
  });

  test('unknown and repeated parameters are refused', () => {
    assert.equal(
      badParam(() => parseSymbolQuery(q('limt=5'))),
      'limt: unknown query parameter "limt"; expected sort, limit, stream, minRequests',
    );
    assert.equal(
      badParam(() => parseDeviceQuery(q('limit=1&limit=2'))),
      'limit: limit: given more than once',
    );
    assert.equal(
      badParam(() => checkParams(q('x=1'), [])),
      'x: unknown query parameter "x"; this endpoint takes none',
    );
  });

  test('integer bounds are inclusive', () => {
    const opts = { min: 1, max: 10, fallback: 3 };
    assert.equal(intParam(q(''), 'n', opts), 3);
    assert.equal(intParam(q('n=1'), 'n', opts), 1);
    assert.equal(intParam(q('n=10'), 'n', opts), 10);
    assert.equal(intParam(q('n=007'), 'n', opts), 7);
  });

  test('devices and trends', () => {
    assert.deepEqual(parseDeviceQuery(q('status=offline&limit=3')), { status: 'offline', limit: 3 });
    assert.deepEqual(parseDeviceQuery(q('')), { status: undefined, limit: 100 });
    assert.deepEqual(parseTrendQuery(q('kind=symbol&trend=degrading&limit=2')), {
      limit: 2,
      kind: 'symbol',
      trend: 'degrading',
    });
  });
});

describe('API paths', () => {
  const P = '/api/v1/';
  test('collections and names', () => {
    assert.deepEqual(parseApiPath('/api/v1/stats', P), { resource: 'stats', name: undefined });
    assert.deepEqual(parseApiPath('/api/v1/symbols/', P), { resource: 'symbols', name: undefined });
    assert.deepEqual(parseApiPath('/api/v1/symbols/AAPL', P), { resource: 'symbols', name: 'AAPL' });
    assert.equal(parseApiPath('/api/v2/stats', P), undefined);
    assert.equal(parseApiPath('/metrics', P), undefined);
  });

  test('a name with a slash, encoded or not', () => {
    assert.deepEqual(parseApiPath('/api/v1/symbols/BTC%2FUSD', P), { resource: 'symbols', name: 'BTC/USD' });
    assert.deepEqual(parseApiPath('/api/v1/symbols/BTC/USD', P), { resource: 'symbols', name: 'BTC/USD' });
    assert.deepEqual(parseApiPath('/api/v1/streams/commodities%20api', P), {
      resource: 'streams',
      name: 'commodities api',
    });
  });

  test('bad percent-encoding is a bad request naming the resource', () => {
    assert.equal(
      badParam(() => parseApiPath('/api/v1/symbols/%E0%A4%A', P)),
      'symbols: symbols: the name is not valid percent-encoding',
    );
  });
});
