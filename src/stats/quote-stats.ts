import type { CorrelationEviction, HopStage, QuoteOutcomes, SymbolRef } from '../correlate/index.js';
import type { CountCell, CountFamily, LatencyCell, LatencyFamily } from './series.js';
import { type HealthObjectives, healthScore, isDown, rankingScore } from './score.js';
import { TrendTracker, type Trend, type TrendConfig, type TrendState } from './trend.js';
import {
  emptySnapshot,
  OutcomeWindow,
  type WindowConfig,
  type WindowSnapshot,
  type WindowState,
} from './window.js';

/**
 * The counters and histograms the quote path is counted in, by symbol (`symbol`, plus `type` for
 * errors), by stream, and for the path as a whole. The metric catalogue (src/metrics) provides
 * them; the stats only know their shape, not their names.
 */
export interface QuoteSeries {
  requests: CountFamily;
  responses: CountFamily;
  timeouts: CountFamily;
  errors: CountFamily;
  late: CountFamily;
  unmatched: CountFamily;
  nonQuote: CountFamily;
  interrupted: CountFamily;
  latency: LatencyFamily;
  streamRequests: CountFamily;
  streamResponses: CountFamily;
  streamTimeouts: CountFamily;
  streamErrors: CountFamily;
  streamLate: CountFamily;
  streamLatency: LatencyFamily;
  bootToConfig: LatencyFamily;
  hopLatency: LatencyFamily;
  evictions: CountFamily;
  symbolOverflow: CountFamily;
}

export const UNKNOWN_SYMBOL = 'unknown';
export const PAGE_SYMBOL = '_page';
export const OTHER_SYMBOL = '_other';
export const UNMAPPED_STREAM = 'unmapped';
export const OTHER_STREAM = '_other';

export interface StreamRule {
  symbol?: string;
  pattern?: string;
  stream: string;
}

export interface QuoteStatsConfig {
  window: WindowConfig;
  trend: TrendConfig;
  objectives: HealthObjectives;
  requestTimeoutMs: number;
  maxSymbols: number;
  maxStreams: number;
  rankingSize: number;
  rankingMinRequests: number;
  streamRules: readonly StreamRule[];
}

/** The outcome counters and windows of one symbol or one stream. */
abstract class OutcomeTotals {
  readonly requests: CountCell;
  readonly responses: CountCell;
  readonly timeouts: CountCell;
  readonly late: CountCell;
  readonly latency: LatencyCell;
  interrupted = 0;
  nonQuote = 0;
  readonly errorsByType = new Map<string, CountCell>();
  readonly window: OutcomeWindow;
  readonly trend: TrendTracker;
  /** Filled by `QuoteStats.refresh`; read by the exposition and the API. */
  readonly snap: WindowSnapshot = emptySnapshot();
  score = Number.NaN;
  health = Number.NaN;
  /** `isDown` of the window at the last refresh, with the ranking's minimum of requests. */
  down = false;
  trendNow: Trend = 'unknown';

  constructor(
    readonly name: string,
    counters: {
      requests: CountCell;
      responses: CountCell;
      timeouts: CountCell;
      late: CountCell;
      latency: LatencyCell;
    },
    cfg: QuoteStatsConfig,
  ) {
    this.requests = counters.requests;
    this.responses = counters.responses;
    this.timeouts = counters.timeouts;
    this.late = counters.late;
    this.latency = counters.latency;
    this.window = new OutcomeWindow(cfg.window);
    this.trend = new TrendTracker(cfg.trend);
  }

  get errors(): number {
    let n = 0;
    for (const c of this.errorsByType.values()) n += c.value;
    return n;
  }
}

export class SymbolStats extends OutcomeTotals implements SymbolRef {
  stream: StreamStats;
  /** The stream came from an HTTPSTREAMSTOCKS hand-off, which outranks the configured rules. */
  streamObserved = false;
  readonly interruptedCounter: CountCell;
  /** `unknown`, `_page` and `_other` stand for no single symbol, so they are never ranked. */
  readonly reserved: boolean;
  /** Forgotten after a long idle time (`QuoteStats.forgetIdle`): a holder must look it up again. */
  retired = false;
  /** The requests counter at the last refresh, and when it last moved: idle time without a hot-path cost. */
  requestsSeen = 0;
  activeAt = Number.NaN;
  constructor(name: string, cat: QuoteSeries, cfg: QuoteStatsConfig, stream: StreamStats) {
    super(
      name,
      {
        requests: cat.requests.labels(name),
        responses: cat.responses.labels(name),
        timeouts: cat.timeouts.labels(name),
        late: cat.late.labels(name),
        latency: cat.latency.labels(name),
      },
      cfg,
    );
    this.stream = stream;
    this.interruptedCounter = cat.interrupted.labels(name);
    this.reserved = name === UNKNOWN_SYMBOL || name === PAGE_SYMBOL || name === OTHER_SYMBOL;
  }
}

export class StreamStats extends OutcomeTotals {
  constructor(name: string, cat: QuoteSeries, cfg: QuoteStatsConfig) {
    super(
      name,
      {
        requests: cat.streamRequests.labels(name),
        responses: cat.streamResponses.labels(name),
        timeouts: cat.streamTimeouts.labels(name),
        late: cat.streamLate.labels(name),
        latency: cat.streamLatency.labels(name),
      },
      cfg,
    );
  }
}

interface CompiledRule {
  symbol?: string;
  regex?: RegExp;
  stream: string;
}

export interface RankEntry {
  rank: number;
  symbol: SymbolStats;
}

/**
 * Aggregates the correlator's verdicts per symbol, per stream and for the whole quote path:
 * counters (the Prometheus series themselves, so the API reads the same numbers), sliding
 * windows, health scores, trends and the ranking of the worst symbols.
 */
export class QuoteStats implements QuoteOutcomes {
  private readonly symbols = new Map<string, SymbolStats>();
  private readonly streams = new Map<string, StreamStats>();
  private readonly rules: CompiledRule[];
  readonly unknownSymbol: SymbolStats;
  readonly pageSymbol: SymbolStats;
  readonly otherSymbol: SymbolStats;
  /** Every outcome, for the health of the quote path as a whole. */
  readonly all: OutcomeWindow;
  readonly allSnap: WindowSnapshot = emptySnapshot();
  allHealth = Number.NaN;
  /** Replies with no request pending and none recently timed out, every type together. */
  unmatchedReplies = 0;
  private readonly unmatchedByType = new Map<string, CountCell>();
  private readonly nonQuoteByType = new Map<string, CountCell>();
  private readonly hops = new Map<HopStage, LatencyCell>();
  private readonly evictions = new Map<string, CountCell>();
  private readonly overflow: CountCell;
  private readonly bootToConfigHistogram: LatencyCell;
  private ranking: RankEntry[] = [];
  private worst: RankEntry[] = [];

  constructor(
    private readonly cat: QuoteSeries,
    private readonly cfg: QuoteStatsConfig,
  ) {
    this.rules = cfg.streamRules.map((r) => ({
      symbol: r.symbol,
      regex: r.pattern === undefined ? undefined : new RegExp(r.pattern),
      stream: r.stream,
    }));
    this.unknownSymbol = this.createSymbol(UNKNOWN_SYMBOL);
    this.pageSymbol = this.createSymbol(PAGE_SYMBOL);
    this.otherSymbol = this.createSymbol(OTHER_SYMBOL);
    this.all = new OutcomeWindow(cfg.window);
    this.overflow = cat.symbolOverflow.labels();
    this.bootToConfigHistogram = cat.bootToConfig.labels();
  }

  /** The settings the stats were built with, read by the read model (src/exporter.view.ts). */
  get config(): Readonly<QuoteStatsConfig> {
    return this.cfg;
  }

  get symbolCount(): number {
    return this.symbols.size;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  symbolList(): IterableIterator<SymbolStats> {
    return this.symbols.values();
  }

  streamList(): IterableIterator<StreamStats> {
    return this.streams.values();
  }

  getSymbol(name: string): SymbolStats | undefined {
    return this.symbols.get(name);
  }

  getStream(name: string): StreamStats | undefined {
    return this.streams.get(name);
  }

  /**
   * The slowest symbols (`tickrmeter_slowest_symbols_ranking`): at most `rankingSize` symbols with
   * at least `rankingMinRequests` window requests and an answered quote, highest score first.
   */
  rankingNow(): readonly RankEntry[] {
    return this.ranking;
  }

  /**
   * The worst symbols as shown to people (the status page, `worstSymbols` of the API): the down
   * symbols first (`isDown`; at most `rankingSize` of them, most window requests first, then by
   * name), then the ranking of the slow ones. `rank` is the place in this list, from 1.
   */
  worstNow(): readonly RankEntry[] {
    return this.worst;
  }

  symbol(name: string): SymbolStats {
    const s = this.symbols.get(name);
    if (s !== undefined) return s;
    // The three reserved names do not count against the limit.
    if (this.symbols.size - 3 >= this.cfg.maxSymbols) {
      this.overflow.value++;
      return this.otherSymbol;
    }
    return this.createSymbol(name);
  }

  /** An HTTPSTREAMSTOCKS hand-off names the stream that serves a symbol. */
  streamSeen(symbolName: string, streamName: string): void {
    const s = this.symbols.get(symbolName);
    if (s === undefined || s === this.otherSymbol) return;
    if (s.stream.name !== streamName) s.stream = this.stream(streamName);
    s.streamObserved = true;
  }

  request(sym: SymbolRef): void {
    const s = sym as SymbolStats;
    s.requests.value++;
    s.stream.requests.value++;
  }

  response(sym: SymbolRef, latencySeconds: number, now: number): void {
    const s = sym as SymbolStats;
    s.responses.value++;
    s.latency.observe(latencySeconds);
    s.window.response(now, latencySeconds);
    s.trend.response(now, latencySeconds);
    const st = s.stream;
    st.responses.value++;
    st.latency.observe(latencySeconds);
    st.window.response(now, latencySeconds);
    st.trend.response(now, latencySeconds);
    this.all.response(now, latencySeconds);
  }

  error(sym: SymbolRef, type: string, now: number): void {
    const s = sym as SymbolStats;
    this.errorCounter(s, type, this.cat.errors).value++;
    s.window.error(now);
    s.trend.failure(now);
    const st = s.stream;
    this.errorCounter(st, type, this.cat.streamErrors).value++;
    st.window.error(now);
    st.trend.failure(now);
    this.all.error(now);
  }

  nonQuote(sym: SymbolRef, type: string, now: number): void {
    const s = sym as SymbolStats;
    s.nonQuote++;
    s.window.nonQuote(now);
    s.stream.nonQuote++;
    s.stream.window.nonQuote(now);
    this.byType(this.nonQuoteByType, this.cat.nonQuote, type).value++;
  }

  timeout(sym: SymbolRef, now: number): void {
    const s = sym as SymbolStats;
    s.timeouts.value++;
    s.window.timeout(now);
    s.trend.failure(now);
    const st = s.stream;
    st.timeouts.value++;
    st.window.timeout(now);
    st.trend.failure(now);
    this.all.timeout(now);
  }

  late(sym: SymbolRef, now: number): void {
    const s = sym as SymbolStats;
    s.late.value++;
    s.window.late(now);
    s.stream.late.value++;
    s.stream.window.late(now);
    this.all.late(now);
  }

  interrupted(sym: SymbolRef): void {
    const s = sym as SymbolStats;
    s.interrupted++;
    s.interruptedCounter.value++;
    s.stream.interrupted++;
  }

  unmatched(type: string): void {
    this.unmatchedReplies++;
    this.byType(this.unmatchedByType, this.cat.unmatched, type).value++;
  }

  bootToConfig(seconds: number): void {
    this.bootToConfigHistogram.observe(seconds);
  }

  hop(stage: HopStage, seconds: number): void {
    let h = this.hops.get(stage);
    if (h === undefined) {
      h = this.cat.hopLatency.labels(stage);
      this.hops.set(stage, h);
    }
    h.observe(seconds);
  }

  eviction(what: CorrelationEviction | string): void {
    let c = this.evictions.get(what);
    if (c === undefined) {
      c = this.cat.evictions.labels(what);
      this.evictions.set(what, c);
    }
    c.value++;
  }

  /**
   * The windows and trend histories of every stream and symbol, for a state snapshot: streams
   * first, so that a restored symbol finds the stream it was served by. Counters are not kept:
   * they restart at zero with the process, as Prometheus expects.
   */
  *stateRecords(): Generator<readonly [string, unknown]> {
    for (const st of this.streams.values()) {
      const window = st.window.saveState();
      const trend = st.trend.saveState();
      if (window !== null || trend !== null) yield ['stream', { name: st.name, window, trend }];
    }
    for (const s of this.symbols.values()) {
      const window = s.window.saveState();
      const trend = s.trend.saveState();
      if (window === null && trend === null && !s.streamObserved) continue;
      yield ['symbol', { name: s.name, stream: s.streamObserved ? s.stream.name : null, window, trend }];
    }
    const all = this.all.saveState();
    if (all !== null) yield ['quotes', { all }];
  }

  /** Takes back one record of `stateRecords`; throws on a record it cannot read. */
  restoreRecord(section: string, value: unknown): void {
    const v = value as {
      name?: unknown;
      stream?: unknown;
      window?: WindowState | null;
      trend?: TrendState | null;
      all?: WindowState;
    };
    if (section === 'quotes') {
      if (v.all !== undefined) this.all.loadState(v.all);
      return;
    }
    if (typeof v?.name !== 'string') throw new TypeError(`${section}: expected a name`);
    let t: OutcomeTotals;
    if (section === 'stream') {
      t = this.stream(v.name);
      if (t.name !== v.name) return;
    } else {
      const s = this.symbol(v.name);
      // Past the symbol limit a symbol's history is not folded into _other's.
      if (s.name !== v.name) return;
      if (typeof v.stream === 'string') this.streamSeen(v.name, v.stream);
      t = s;
    }
    if (v.window) t.window.loadState(v.window);
    if (v.trend) t.trend.loadState(v.trend);
  }

  /**
   * Brings every window figure, score, health and trend up to `now` and ranks the worst
   * symbols. Runs at each scrape and, at most once a second, for the API.
   */
  refresh(now: number): void {
    const timeoutSeconds = this.cfg.requestTimeoutMs / 1000;
    const top: RankEntry[] = [];
    const down: SymbolStats[] = [];
    const size = this.cfg.rankingSize;
    for (const s of this.symbols.values()) {
      this.refreshOne(s, now, timeoutSeconds);
      if (s.reserved) continue;
      if (s.down) {
        insertTop(down, s, size, downFirst);
        continue;
      }
      if (s.snap.requests < this.cfg.rankingMinRequests || Number.isNaN(s.score)) continue;
      if (top.length === size && s.score <= top[size - 1]!.symbol.score) continue;
      // Insertion into a short sorted list: cheaper than sorting every symbol.
      let i = top.length < size ? top.length : size - 1;
      if (top.length < size) top.push({ rank: 0, symbol: s });
      while (i > 0 && worse(s, top[i - 1]!.symbol)) {
        top[i] = top[i - 1]!;
        i--;
      }
      top[i] = { rank: 0, symbol: s };
    }
    for (let i = 0; i < top.length; i++) top[i]!.rank = i + 1;
    this.ranking = top;
    const worst: RankEntry[] = [];
    for (const s of down) worst.push({ rank: worst.length + 1, symbol: s });
    for (const r of top) worst.push({ rank: worst.length + 1, symbol: r.symbol });
    this.worst = worst;
    this.forgetIdle(now);
    for (const st of this.streams.values()) this.refreshOne(st, now, timeoutSeconds);
    this.all.snapshot(now, this.allSnap);
    this.allHealth = healthScore(this.allSnap, this.cfg.objectives);
  }

  /**
   * Forgets symbols without a request for longer than the window and the trend baseline, when
   * nothing of theirs is left to show: junk symbols from a flood stop holding room that real ones
   * need, and a symbol back later starts anew (its counters restart, which `rate()` reads as a
   * reset). The three reserved symbols are kept.
   */
  private forgetIdle(now: number): void {
    const idleMs = this.cfg.window.windowMs + this.cfg.trend.baselineMs;
    for (const s of this.symbols.values()) {
      if (s.reserved) continue;
      const requests = s.requests.value;
      if (requests !== s.requestsSeen || Number.isNaN(s.activeAt)) {
        s.requestsSeen = requests;
        s.activeAt = now;
        continue;
      }
      if (now - s.activeAt <= idleMs || s.snap.requests > 0) continue;
      this.forget(s);
    }
  }

  private forget(s: SymbolStats): void {
    const cat = this.cat;
    this.symbols.delete(s.name);
    for (const f of [cat.requests, cat.responses, cat.timeouts, cat.late, cat.latency, cat.interrupted])
      f.remove(s.name);
    for (const type of s.errorsByType.keys()) cat.errors.remove(s.name, type);
    s.retired = true;
    this.eviction('idle_symbol');
  }

  private refreshOne(t: OutcomeTotals, now: number, timeoutSeconds: number): void {
    t.window.snapshot(now, t.snap);
    t.score = rankingScore(t.snap, timeoutSeconds);
    t.health = healthScore(t.snap, this.cfg.objectives);
    t.down = isDown(t.snap, this.cfg.rankingMinRequests);
    t.trendNow = t.trend.trend(now);
  }

  private createSymbol(name: string): SymbolStats {
    const s = new SymbolStats(name, this.cat, this.cfg, this.stream(this.streamByRules(name)));
    this.symbols.set(name, s);
    return s;
  }

  private streamByRules(symbol: string): string {
    if (symbol === UNKNOWN_SYMBOL || symbol === PAGE_SYMBOL || symbol === OTHER_SYMBOL)
      return UNMAPPED_STREAM;
    for (const r of this.rules) {
      if (r.symbol !== undefined ? r.symbol === symbol : r.regex!.test(symbol)) return r.stream;
    }
    return UNMAPPED_STREAM;
  }

  private stream(name: string): StreamStats {
    let st = this.streams.get(name);
    if (st === undefined) {
      if (this.streams.size >= this.cfg.maxStreams && name !== OTHER_STREAM) return this.stream(OTHER_STREAM);
      st = new StreamStats(name, this.cat, this.cfg);
      this.streams.set(name, st);
    }
    return st;
  }

  private errorCounter(t: OutcomeTotals, type: string, family: QuoteSeries['errors']): CountCell {
    let c = t.errorsByType.get(type);
    if (c === undefined) {
      c = family.labels(t.name, type);
      t.errorsByType.set(type, c);
    }
    return c;
  }

  private byType(map: Map<string, CountCell>, family: QuoteSeries['unmatched'], type: string): CountCell {
    let c = map.get(type);
    if (c === undefined) {
      c = family.labels(type);
      map.set(type, c);
    }
    return c;
  }
}

/** Higher score first; ties by more requests, then by name, so the ranking is stable. */
function worse(a: SymbolStats, b: SymbolStats): boolean {
  if (a.score !== b.score) return a.score > b.score;
  if (a.snap.requests !== b.snap.requests) return a.snap.requests > b.snap.requests;
  return a.name < b.name;
}

/** Down symbols: more window requests first, then by name. */
function downFirst(a: SymbolStats, b: SymbolStats): boolean {
  if (a.snap.requests !== b.snap.requests) return a.snap.requests > b.snap.requests;
  return a.name < b.name;
}

/** Inserts `s` into `list`, kept sorted by `before` and at most `size` long. */
function insertTop(
  list: SymbolStats[],
  s: SymbolStats,
  size: number,
  before: (a: SymbolStats, b: SymbolStats) => boolean,
): void {
  if (size <= 0) return;
  if (list.length === size && !before(s, list[size - 1]!)) return;
  let i = list.length < size ? list.length : size - 1;
  if (list.length < size) list.push(s);
  while (i > 0 && before(s, list[i - 1]!)) {
    list[i] = list[i - 1]!;
    i--;
  }
  list[i] = s;
}
