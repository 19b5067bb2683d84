/**
 * The read model: everything the HTTP API, the status page and their snapshots read of the
 * exporter, as one narrow interface. It hands out figures, never the stages' objects or metric
 * values, so that what the API serves stays the same whichever way the stages keep their numbers.
 * The exporter implements it (src/exporter.view.ts); a test can implement it with a few literals.
 *
 * Times are monotonic milliseconds in the frame of `now()`; `wallTime` turns them into wall-clock
 * milliseconds. A number that is not known (a latency with no response, a battery never reported)
 * is NaN.
 */

export type Trend = 'degrading' | 'stable' | 'improving' | 'unknown';

/** Online, offline, or heard only in requests and boot messages, so not a device yet (docs/fleet.md). */
export type DeviceStatus = 'online' | 'offline' | 'unconfirmed';

/** How a request ended, for a device's latest outcomes. */
export type OutcomeKind = 'response' | 'error' | 'non_quote' | 'timeout' | 'late' | 'interrupted';

/** A symbol's, a stream's or the whole quote path's figures over the sliding window. */
export interface WindowFigures {
  /** responses + errors + timeouts + non-quote answers (`late` is not a request of its own). */
  readonly requests: number;
  readonly responses: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly late: number;
  /** responses / requests; NaN with no requests. */
  readonly responseRate: number;
  readonly avgLatencySeconds: number;
  /** Within 1 % (relative) of the exact order statistic; NaN with no responses. */
  readonly p95LatencySeconds: number;
  readonly p99LatencySeconds: number;
}

/** Outcomes of a symbol or a stream counted since the process started. */
export interface OutcomeTotals {
  readonly requests: number;
  readonly responses: number;
  readonly timeouts: number;
  readonly late: number;
  readonly interrupted: number;
  readonly nonQuote: number;
  /** Error replies by type (`STOCK_ERROR`, `INVALID_FORMAT`, `PAGE_ERROR`); together, all the errors. */
  errorsByType(): Iterable<readonly [type: string, count: number]>;
}

/** The figures behind a trend (src/stats/README.md, "Trend"). */
export interface TrendFigures {
  trend: Trend;
  recentSamples: number;
  baselineSamples: number;
  /** Geometric mean latency in seconds. */
  recentMean: number;
  baselineMean: number;
  /** recentMean / baselineMean. */
  ratio: number;
  /** Welch t statistic of log-latency, recent minus baseline. */
  t: number;
  recentRequests: number;
  baselineRequests: number;
  recentFailureRate: number;
  baselineFailureRate: number;
  /** Two-proportion z statistic of the failure rates. */
  z: number;
}

/** A symbol or a stream. Window figures, scores, `down` and `trend` are those of the last `refresh`. */
export interface KeyView {
  readonly name: string;
  readonly window: WindowFigures;
  readonly totals: OutcomeTotals;
  /** The ranking score in seconds (README "Ranking score"); NaN when it cannot be ranked. */
  readonly score: number;
  /** 0 (down) to 100 (meets its objectives); NaN without quote outcomes in the window. */
  readonly health: number;
  /** Down rather than slow: enough requests in the window, none answered with a quote. */
  readonly down: boolean;
  readonly trend: Trend;
  /** The trend's figures at `now`, written into `out` when one is given. */
  trendDetail(now: number, out?: TrendFigures): TrendFigures;
}

export interface SymbolView extends KeyView {
  /** The stream serving the symbol. */
  readonly stream: string;
  /** The stream came from an HTTPSTREAMSTOCKS hand-off rather than from the configured rules. */
  readonly streamObserved: boolean;
}

export type StreamView = KeyView;

export interface RankedSymbol {
  /** From 1. */
  readonly rank: number;
  readonly symbol: SymbolView;
}

/** The quote path as a whole, as of the last `refresh`. */
export interface QuotePathView {
  readonly window: WindowFigures;
  readonly health: number;
  /** Requests waiting for their reply now. */
  readonly pendingRequests: number;
  /** Replies with no request pending and none recently timed out, since start. */
  readonly unmatchedReplies: number;
}

/** The settings the figures are computed with. */
export interface QuoteSettings {
  readonly requestTimeoutMs: number;
  readonly windowMs: number;
  readonly objectiveResponseRate: number;
  readonly objectiveP95Seconds: number;
  readonly rankingSize: number;
  readonly rankingMinRequests: number;
}

/** Online devices of one firmware version. */
export interface VersionCount {
  readonly firmware: string;
  readonly innerVersion: string;
  readonly flashId: string;
  readonly online: number;
}

/** The fleet as counted at the last `refresh` (docs/fleet.md). */
export interface FleetFigures {
  /** Every id tracked, devices and ids heard only in requests. */
  readonly tracked: number;
  readonly online: number;
  readonly offline: number;
  /** Online devices by version. */
  readonly versions: readonly VersionCount[];
  /** Online devices by charging state. */
  readonly charging: { readonly charging: number; readonly not_charging: number; readonly unknown: number };
  /** Online devices by battery band (`0-9` .. `90-100`, `unknown`), in that order. */
  readonly battery: readonly { readonly band: string; readonly online: number }[];
}

/** A device that went offline. */
export interface OfflineRecord {
  readonly device: string;
  /** When it went offline: its last message plus its offline limit. */
  readonly at: number;
  readonly lastHeard: number;
  readonly firmware: string;
}

/** One device's latest state, as the fleet last heard it. */
export interface DeviceView {
  readonly id: string;
  readonly firstHeard: number;
  readonly lastHeard: number;
  /** Messages naming the device. */
  readonly messages: number;
  readonly firmware: string;
  readonly innerVersion: string;
  readonly flashId: string;
  /** Smoothed battery level, 0 to 100 %. */
  readonly battery: number;
  /** 1 charging, 0 not charging, -1 unknown. */
  readonly charging: number;
  /** Raw supply ADC reading. */
  readonly vin: number;
  /** Seconds since boot as last reported, and when that was. */
  readonly uptime: number;
  readonly uptimeAt: number;
  readonly wifiLost: number;
  readonly flashCheck: number;
  /** The update interval a reply stated; 0 or NaN when none did. */
  readonly updateIntervalMs: number;
  readonly reboots: number;
  readonly lastBootAt: number;
  /** Booted and not yet answered on its topic. */
  readonly bootPending: boolean;
}

/** One of a device's latest requests and how it ended. */
export interface OutcomeRecord {
  readonly requestedAt: number;
  readonly symbol: string;
  readonly outcome: OutcomeKind;
  /** Request to reply; NaN for a timeout or an interruption. */
  readonly latencySeconds: number;
  /** The reply's type (`UPDATE`, `STOCK_ERROR`, ...); empty without a reply. */
  readonly replyType: string;
}

export interface ReadModel {
  /** The exporter's monotonic time, in ms. */
  now(): number;
  /** A time of `now()`'s frame as wall-clock ms. */
  wallTime(monotonicMs: number): number;
  /** Messages handled since start, invalid ones included. */
  messagesSeen(): number;
  /** The same by kind (`request`, `reply`, `heartbeat`, ..., `invalid`), every kind present. */
  messagesByKind(): Readonly<Record<string, number>>;

  /**
   * Brings the window figures, scores, trends, the ranking and the fleet's counts up to `now`.
   * What the reads below return of them stays as of this moment until the next refresh.
   */
  refresh(now: number): void;
  settings(): QuoteSettings;
  quotePath(): QuotePathView;

  /**
   * Every symbol tracked at the last refresh, in no particular order. A symbol's view is the same
   * object as long as the symbol is tracked.
   */
  symbols(): readonly SymbolView[];
  symbolCount(): number;
  symbol(name: string): SymbolView | undefined;
  /** Every stream tracked at the last refresh, in no particular order, each the same object on every call. */
  streams(): readonly StreamView[];
  streamCount(): number;
  /** The status page's worst symbols: the down ones first, then the ranking (README "Down"). */
  worstSymbols(): readonly RankedSymbol[];

  fleet(): FleetFigures;
  /** The devices that went offline most recently, oldest first. */
  recentlyOffline(): readonly OfflineRecord[];
  /** Every device tracked with this status at `now` (every one when undefined), in no particular order. */
  devices(now: number, status?: DeviceStatus): DeviceView[];
  /** Read live, not as of the last refresh. */
  device(id: string): DeviceView | undefined;
  /** Online at `now`; false for an id not tracked. */
  isOnline(id: string, now: number): boolean;
  /** The silence after which the device counts as offline; NaN for an id not tracked. */
  offlineAfterMs(id: string): number;
  /** The symbol the device shows, as its requests and replies tell; undefined when not known. */
  shownSymbol(id: string): string | undefined;
  pendingRequests(id: string): number;
  /** The device's latest requests, oldest first (at most ten). */
  recentOutcomes(id: string): readonly OutcomeRecord[];
}
