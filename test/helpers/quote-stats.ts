import type { QuoteStats, QuoteStatsConfig } from '../../src/stats/index.js';

/** The stats configuration of the unit tests: a 5-minute window, a ranking of 3 from 10 requests. */
export const QUOTE_STATS_CONFIG: QuoteStatsConfig = {
  window: { windowMs: 300_000, slots: 10 },
  trend: { recentMs: 300_000, baselineMs: 3_600_000 },
  objectives: { responseRate: 0.99, p95Seconds: 2 },
  requestTimeoutMs: 10_000,
  maxSymbols: 100,
  maxStreams: 10,
  rankingSize: 3,
  rankingMinRequests: 10,
  streamRules: [
    { pattern: '^[A-Z0-9]+/[A-Z0-9]+$', stream: 'coingecko' },
    { symbol: 'XAU', stream: 'commodities-api' },
    { pattern: '^X', stream: 'never-reached-for-XAU' },
  ],
};

/** `responses` answers at `latency` seconds, then `timeouts` timeouts, for a symbol (or `unknown`). */
export function feedSymbol(
  q: QuoteStats,
  name: string,
  responses: number,
  latency: number,
  timeouts = 0,
): void {
  const s = name === 'unknown' ? q.unknownSymbol : q.symbol(name);
  for (let i = 0; i < responses; i++) {
    q.request(s);
    q.response(s, latency, 1000 + i);
  }
  for (let i = 0; i < timeouts; i++) {
    q.request(s);
    q.timeout(s, 1000 + i);
  }
}
