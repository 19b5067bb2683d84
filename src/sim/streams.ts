import { hash32 } from './rng.js';

/** Streams answered directly by the quote backend: the symbols not otherwise assigned spread over them. */
export const HASHED_STREAMS = ['polygon', 'tradingview', 'finage', 'fxon'] as const;

/** Every stream the simulated backend uses, plus `unmapped` for `_page` and `unknown`. */
export const STREAMS = [
  ...HASHED_STREAMS,
  'coingecko',
  'commodities-api',
  'electricity',
  'custom-api',
  'unmapped',
] as const;

/**
 * Symbols served by HTTP-polled streams, for which the backend hands the request to a second
 * service through `HTTPSTREAMSTOCKS`. Metals are in the profile; the profile has no electricity
 * areas or custom feeds (they are per-user settings, not tickers), so a few are added below.
 */
const HTTP_STREAM_OF = new Map<string, string>([
  ['XAU', 'commodities-api'],
  ['XAG', 'commodities-api'],
  ['XPT', 'commodities-api'],
  ['XPD', 'commodities-api'],
  ['XCU', 'commodities-api'],
  ['DK1', 'electricity'],
  ['DK2', 'electricity'],
  ['SE3', 'electricity'],
  ['SE4', 'electricity'],
  ['NO1', 'electricity'],
  ['MY-PORTFOLIO', 'custom-api'],
  ['HOME-SOLAR', 'custom-api'],
]);

/** Symbols the simulator adds to the profile's, with the number of devices that show them. */
export const EXTRA_SYMBOLS: ReadonlyArray<{ symbol: string; devices: number }> = [
  { symbol: 'DK1', devices: 12 },
  { symbol: 'DK2', devices: 9 },
  { symbol: 'SE3', devices: 4 },
  { symbol: 'SE4', devices: 3 },
  { symbol: 'NO1', devices: 2 },
  { symbol: 'MY-PORTFOLIO', devices: 4 },
  { symbol: 'HOME-SOLAR', devices: 2 },
];

/** Market names the backend passes to the HTTP-polled services. */
export function marketOf(stream: string, symbol: string): string {
  if (stream === 'commodities-api') return 'metals';
  if (stream === 'electricity') return symbol.slice(0, 2);
  return 'custom';
}

export function isHttpStream(stream: string): boolean {
  return stream === 'commodities-api' || stream === 'electricity' || stream === 'custom-api';
}

/**
 * The stream the simulated backend uses for a symbol. `_page` and `unknown`, which are not
 * symbols a backend serves, are `unmapped`.
 */
export function streamOf(symbol: string): string {
  if (symbol === '_page' || symbol === 'unknown' || symbol === '_other') return 'unmapped';
  if (symbol.includes('/')) return 'coingecko';
  const http = HTTP_STREAM_OF.get(symbol);
  if (http !== undefined) return http;
  return HASHED_STREAMS[hash32(symbol) % HASHED_STREAMS.length]!;
}

export interface StreamRule {
  symbol?: string;
  pattern?: string;
  stream: string;
}

/**
 * Exporter mapping rules that give every symbol the simulator can use the stream `streamOf`
 * gives it. Exact `symbol` rules only: the hashed assignment has no pattern, and exact rules
 * cannot be read two ways, whatever order or pattern syntax the exporter applies.
 */
export function streamRulesFor(symbols: Iterable<string>): StreamRule[] {
  const unique = [...new Set(symbols)].filter((s) => streamOf(s) !== 'unmapped');
  unique.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return unique.map((symbol) => ({ symbol, stream: streamOf(symbol) }));
}
