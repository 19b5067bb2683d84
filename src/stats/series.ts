/**
 * The cumulative series the stats count into, as the stats see them: a cell per label set that
 * holds a running total, or takes latency observations. The stats know nothing of how these are
 * exposed; the metrics layer (src/metrics) hands in the exposition's own cells, so a count is
 * written once, on the hot path, with no copy at scrape time.
 */
export interface CountCell {
  /** The running total; only ever goes up. */
  value: number;
}

export interface LatencyCell {
  observe(seconds: number): void;
}

export interface SeriesFamily<C> {
  labels(...values: string[]): C;
  remove(...values: string[]): unknown;
}

export type CountFamily = SeriesFamily<CountCell>;
export type LatencyFamily = SeriesFamily<LatencyCell>;
