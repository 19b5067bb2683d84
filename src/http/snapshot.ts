import type {
  DeviceView,
  KeyView,
  OutcomeRecord,
  ReadModel,
  SymbolView,
  TrendFigures,
  WindowFigures,
} from '../view/index.js';
import { MinuteHistory } from './history.js';
import { largestBy, SYMBOL_ORDERS, trendOrder } from './order.js';
import type { DeviceQuery, SymbolQuery, TrendQuery } from './query.js';
import type {
  DeviceDetailJson,
  DeviceListJson,
  DeviceSummaryJson,
  HistoryJson,
  RankedSymbolJson,
  StatsJson,
  StreamDetailJson,
  StreamJson,
  StreamListJson,
  SymbolDetailJson,
  SymbolJson,
  SymbolListJson,
  SymbolSort,
  Totals,
  TrendDetailJson,
  TrendEntryJson,
  TrendListJson,
  WindowJson,
} from './schemas.js';

/** A snapshot is rebuilt when asked for and older than this. */
export const MAX_AGE_MS = 1000;
/** Rebuilt on a timer too, so the per-minute history and the message rate fill with nobody asking. */
export const TICK_MS = 10_000;
const RATE_SAMPLES = 16;
/** The message rate is taken over at least this long, so one snapshot's jitter does not show. */
const RATE_MIN_SPAN_MS = 10_000;
const RECENT_OFFLINE_SHOWN = 10;
/** Lists kept per snapshot, one per distinct query; a bound against clients varying them. */
const LIST_CACHE = 16;

export const nullable = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * What the API serves of the read model: snapshots at most `MAX_AGE_MS` old, and what must
 * outlive one.
 */
export class ApiState {
  readonly startedWallMs: number;
  readonly history = new MinuteHistory();
  private readonly quotePath = new MinuteHistory();
  private readonly rateAt = new Float64Array(RATE_SAMPLES);
  private readonly rateCount = new Float64Array(RATE_SAMPLES);
  private rateNext = 0;
  private rateFilled = 0;
  private snap: Snapshot | undefined;
  builds = 0;

  constructor(readonly view: ReadModel) {
    const now = view.now();
    this.startedWallMs = view.wallTime(now);
    this.sampleRate(now);
  }

  /** The current snapshot, rebuilt first when older than `MAX_AGE_MS`. */
  current(): Snapshot {
    const now = this.view.now();
    const s = this.snap;
    if (s !== undefined && now - s.now < MAX_AGE_MS) return s;
    this.snap = this.build(now);
    return this.snap;
  }

  private build(now: number): Snapshot {
    const v = this.view;
    this.builds++;
    v.refresh(now);
    const wallMs = v.wallTime(now);
    for (const st of v.streams()) {
      this.history.record(st.name, wallMs, st.window.p95LatencySeconds, st.window.responseRate);
    }
    const all = v.quotePath().window;
    this.quotePath.record('', wallMs, all.p95LatencySeconds, all.responseRate);
    const perSecond = this.rate(now);
    this.sampleRate(now);
    return new Snapshot(this, now, wallMs, perSecond);
  }

  quotePathHistory(wallMs: number): HistoryJson {
    return historyJson(this.quotePath, '', wallMs);
  }

  private sampleRate(now: number): void {
    const last = (this.rateNext + RATE_SAMPLES - 1) % RATE_SAMPLES;
    // Samples closer than a second apart add nothing but would push older ones out.
    if (this.rateFilled > 0 && now - this.rateAt[last]! < MAX_AGE_MS) return;
    this.rateAt[this.rateNext] = now;
    this.rateCount[this.rateNext] = this.view.messagesSeen();
    this.rateNext = (this.rateNext + 1) % RATE_SAMPLES;
    this.rateFilled = Math.min(this.rateFilled + 1, RATE_SAMPLES);
  }

  /** Messages per second since the newest sample at least `RATE_MIN_SPAN_MS` old (else the oldest). */
  private rate(now: number): number {
    let at = Number.NaN;
    let count = 0;
    for (let k = 1; k <= this.rateFilled; k++) {
      const i = (this.rateNext - k + RATE_SAMPLES) % RATE_SAMPLES;
      at = this.rateAt[i]!;
      count = this.rateCount[i]!;
      if (now - at >= RATE_MIN_SPAN_MS) break;
    }
    const span = now - at;
    if (!(span >= MAX_AGE_MS)) return Number.NaN;
    return ((this.view.messagesSeen() - count) * 1000) / span;
  }
}

/**
 * The figures of one moment, shaped for JSON. The stats, the streams and the ranking are shaped
 * when the snapshot is taken; per-symbol, per-device and trend lists only when first asked for,
 * and then kept for the life of the snapshot, so a burst of calls costs one computation.
 */
export class Snapshot {
  readonly generatedAt: string;
  readonly stats: StatsJson;
  readonly streams: StreamListJson;
  private readonly streamByName = new Map<string, StreamJson>();
  private readonly symbolJson = new Map<SymbolView, SymbolJson>();
  private readonly sorted = new Map<SymbolSort, SymbolView[]>();
  private readonly deviceLists = new Map<string, DeviceListJson>();
  private readonly symbolLists = new Map<string, SymbolListJson>();
  private trendList: TrendEntryJson[] | undefined;

  constructor(
    private readonly state: ApiState,
    readonly now: number,
    readonly wallMs: number,
    messagesPerSecond: number,
  ) {
    this.generatedAt = iso(wallMs);
    const v = state.view;
    const windowMs = v.settings().windowMs;
    const symbolsPerStream = new Map<string, number>();
    for (const s of v.symbols()) symbolsPerStream.set(s.stream, (symbolsPerStream.get(s.stream) ?? 0) + 1);
    const streams: StreamJson[] = [];
    for (const st of v.streams()) {
      const j: StreamJson = {
        stream: st.name,
        symbols: symbolsPerStream.get(st.name) ?? 0,
        totals: totalsOf(st),
        window: windowOf(st.window, windowMs),
        score: nullable(st.score),
        health: nullable(st.health),
        down: st.down,
        trend: st.trend,
        history: historyJson(state.history, st.name, wallMs),
      };
      streams.push(j);
      this.streamByName.set(st.name, j);
    }
    streams.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
    this.streams = { generatedAt: this.generatedAt, streams };
    this.stats = this.buildStats(messagesPerSecond);
  }

  private buildStats(messagesPerSecond: number): StatsJson {
    const v = this.state.view;
    const cfg = v.settings();
    const fleet = v.fleet();
    const path = v.quotePath();
    const byKind: Record<string, number> = { ...v.messagesByKind() };
    const byFirmware = new Map<string, number>();
    const byVersion: StatsJson['devices']['byVersion'] = [];
    for (const { firmware, innerVersion, flashId, online } of fleet.versions) {
      byFirmware.set(firmware, (byFirmware.get(firmware) ?? 0) + online);
      byVersion.push({ firmware, innerVersion, flashId, online });
    }
    byVersion.sort(
      (a, b) =>
        b.online - a.online ||
        cmp(a.firmware, b.firmware) ||
        cmp(a.innerVersion, b.innerVersion) ||
        cmp(a.flashId, b.flashId),
    );
    const battery: Record<string, number> = {};
    for (const { band, online } of fleet.battery) battery[band] = online;
    const events = v.recentlyOffline();
    const recentlyOffline: StatsJson['devices']['recentlyOffline'] = [];
    for (let i = events.length - 1; i >= 0 && recentlyOffline.length < RECENT_OFFLINE_SHOWN; i--) {
      const ev = events[i]!;
      recentlyOffline.push({
        device: ev.device,
        at: iso(v.wallTime(ev.at)),
        lastHeardAt: iso(v.wallTime(ev.lastHeard)),
        firmware: ev.firmware,
        online: v.isOnline(ev.device, this.now),
      });
    }
    const totals = {
      requests: 0,
      responses: 0,
      timeouts: 0,
      errors: 0,
      late: 0,
      interrupted: 0,
      nonQuote: 0,
    };
    for (const st of v.streams()) {
      const t = st.totals;
      totals.requests += t.requests;
      totals.responses += t.responses;
      totals.timeouts += t.timeouts;
      for (const [, n] of t.errorsByType()) totals.errors += n;
      totals.late += t.late;
      totals.interrupted += t.interrupted;
      totals.nonQuote += t.nonQuote;
    }
    const worstSymbols: RankedSymbolJson[] = v
      .worstSymbols()
      .map((r) => ({ rank: r.rank, ...this.symbol(r.symbol) }));
    return {
      generatedAt: this.generatedAt,
      startedAt: iso(this.state.startedWallMs),
      health: nullable(path.health),
      messages: { total: v.messagesSeen(), perSecond: nullable(messagesPerSecond), byKind },
      devices: {
        tracked: fleet.tracked,
        online: fleet.online,
        offline: fleet.offline,
        byFirmware: [...byFirmware]
          .map(([firmware, online]) => ({ firmware, online }))
          .sort((a, b) => b.online - a.online || cmp(a.firmware, b.firmware)),
        byVersion,
        charging: { ...fleet.charging },
        battery,
        recentlyOffline,
      },
      quotes: {
        totals: { ...totals, unmatched: path.unmatchedReplies },
        window: windowOf(path.window, cfg.windowMs),
        history: this.state.quotePathHistory(this.wallMs),
        pending: path.pendingRequests,
        symbols: v.symbolCount(),
        streams: v.streamCount(),
      },
      worstSymbols,
      settings: {
        requestTimeoutSeconds: cfg.requestTimeoutMs / 1000,
        windowSeconds: cfg.windowMs / 1000,
        objectiveResponseRate: cfg.objectiveResponseRate,
        objectiveP95LatencySeconds: cfg.objectiveP95Seconds,
        rankingSize: cfg.rankingSize,
        rankingMinRequests: cfg.rankingMinRequests,
      },
    };
  }

  stream(name: string): StreamDetailJson | undefined {
    const j = this.streamByName.get(name);
    if (j === undefined) return undefined;
    const symbolNames: string[] = [];
    for (const s of this.state.view.symbols()) if (s.stream === name) symbolNames.push(s.name);
    symbolNames.sort(cmp);
    return { generatedAt: this.generatedAt, ...j, symbolNames };
  }

  symbol(s: SymbolView): SymbolJson {
    let j = this.symbolJson.get(s);
    if (j === undefined) {
      j = {
        symbol: s.name,
        stream: s.stream,
        streamObserved: s.streamObserved,
        totals: totalsOf(s),
        window: windowOf(s.window, this.state.view.settings().windowMs),
        score: nullable(s.score),
        health: nullable(s.health),
        down: s.down,
        trend: s.trend,
      };
      this.symbolJson.set(s, j);
    }
    return j;
  }

  symbolDetail(name: string): SymbolDetailJson | undefined {
    const s = this.state.view.symbol(name);
    if (s === undefined) return undefined;
    return {
      generatedAt: this.generatedAt,
      ...this.symbol(s),
      trendDetail: trendDetailJson(s.trendDetail(this.now)),
    };
  }

  symbols(query: SymbolQuery): SymbolListJson {
    const key = `${query.sort}|${query.limit}|${query.minRequests}|${query.stream ?? ''}`;
    const cached = this.symbolLists.get(key);
    if (cached !== undefined) return cached;
    let order = this.sorted.get(query.sort);
    if (order === undefined) {
      order = [...this.state.view.symbols()].sort(SYMBOL_ORDERS[query.sort]);
      this.sorted.set(query.sort, order);
    }
    const out: SymbolJson[] = [];
    let total = 0;
    for (const s of order) {
      if (query.stream !== undefined && s.stream !== query.stream) continue;
      if (s.window.requests < query.minRequests) continue;
      total++;
      if (out.length < query.limit) out.push(this.symbol(s));
    }
    const list: SymbolListJson = { generatedAt: this.generatedAt, sort: query.sort, total, symbols: out };
    if (this.symbolLists.size >= LIST_CACHE) this.symbolLists.clear();
    this.symbolLists.set(key, list);
    return list;
  }

  trends(query: TrendQuery): TrendListJson {
    if (this.trendList === undefined) {
      const v = this.state.view;
      const keys: { k: KeyView; stream: string | null; detail: TrendDetailJson }[] = [];
      let scratch: TrendFigures | undefined;
      const consider = (k: KeyView, stream: string | null) => {
        if (k.trend === 'stable') return;
        const d = k.trendDetail(this.now, scratch);
        scratch = d;
        // Idle for the whole trend horizon: no trend to speak of, only noise in the list.
        if (d.recentRequests + d.baselineRequests === 0) return;
        keys.push({ k, stream, detail: trendDetailJson(d) });
      };
      for (const st of v.streams()) consider(st, null);
      for (const s of v.symbols()) consider(s, s.stream);
      keys.sort((a, b) => trendOrder(a.k, b.k));
      this.trendList = keys.map(({ k, stream, detail }) => ({
        kind: stream === null ? 'stream' : 'symbol',
        name: k.name,
        stream,
        trend: k.trend,
        score: nullable(k.score),
        health: nullable(k.health),
        down: k.down,
        detail,
      }));
    }
    const out: TrendEntryJson[] = [];
    let total = 0;
    for (const t of this.trendList) {
      if (query.kind !== undefined && t.kind !== query.kind) continue;
      if (query.trend !== undefined && t.trend !== query.trend) continue;
      total++;
      if (out.length < query.limit) out.push(t);
    }
    return { generatedAt: this.generatedAt, total, entries: out };
  }

  devices(query: DeviceQuery): DeviceListJson {
    const key = `${query.status ?? ''}|${query.limit}`;
    let list = this.deviceLists.get(key);
    if (list !== undefined) return list;
    const v = this.state.view;
    const now = this.now;
    const matching = v.devices(now, query.status);
    const top = largestBy(matching, query.limit, lastHeardOf, byId);
    const total = matching.length;
    list = {
      generatedAt: this.generatedAt,
      status: query.status ?? null,
      total,
      devices: top.map((d) => deviceSummary(v, d, now)),
    };
    if (this.deviceLists.size >= LIST_CACHE) this.deviceLists.clear();
    this.deviceLists.set(key, list);
    return list;
  }
}

/**
 * One device, read when asked: a single lookup and a copy of at most ten outcomes, cheap enough
 * not to need a snapshot, and fresher for it.
 */
export function deviceDetail(v: ReadModel, id: string): DeviceDetailJson | undefined {
  const dev = v.device(id);
  if (dev === undefined) return undefined;
  const now = v.now();
  return {
    generatedAt: iso(v.wallTime(now)),
    ...deviceSummary(v, dev, now),
    messages: dev.messages,
    vin: nullable(dev.vin),
    uptimeSeconds: nullable(dev.uptime),
    uptimeReportedAt: Number.isNaN(dev.uptimeAt) ? null : iso(v.wallTime(dev.uptimeAt)),
    wifiConnectionsLost: nullable(dev.wifiLost),
    flashCheck: nullable(dev.flashCheck),
    updateIntervalSeconds: dev.updateIntervalMs > 0 ? dev.updateIntervalMs / 1000 : null,
    reboots: dev.reboots,
    lastBootAt: Number.isNaN(dev.lastBootAt) ? null : iso(v.wallTime(dev.lastBootAt)),
    bootPending: dev.bootPending,
    pendingRequests: v.pendingRequests(id),
    recentRequests: v.recentOutcomes(id).map((o: OutcomeRecord) => ({
      requestedAt: iso(v.wallTime(o.requestedAt)),
      symbol: o.symbol,
      outcome: o.outcome,
      latencySeconds: nullable(o.latencySeconds),
      replyType: o.replyType,
    })),
  };
}

function deviceSummary(v: ReadModel, d: DeviceView, now: number): DeviceSummaryJson {
  return {
    device: d.id,
    online: v.isOnline(d.id, now),
    firstHeardAt: iso(v.wallTime(d.firstHeard)),
    lastHeardAt: iso(v.wallTime(d.lastHeard)),
    silentSeconds: Math.max(0, now - d.lastHeard) / 1000,
    offlineAfterSeconds: v.offlineAfterMs(d.id) / 1000,
    firmware: d.firmware,
    innerVersion: d.innerVersion,
    flashId: d.flashId,
    battery: nullable(d.battery),
    charging: d.charging === 1 ? 'charging' : d.charging === 0 ? 'not_charging' : 'unknown',
    shownSymbol: v.shownSymbol(d.id) ?? null,
  };
}

export function totalsOf(k: KeyView): Totals {
  const t = k.totals;
  const errorsByType: Record<string, number> = {};
  let errors = 0;
  for (const [type, n] of t.errorsByType()) {
    errorsByType[type] = n;
    errors += n;
  }
  return {
    requests: t.requests,
    responses: t.responses,
    timeouts: t.timeouts,
    errors,
    late: t.late,
    interrupted: t.interrupted,
    nonQuote: t.nonQuote,
    errorsByType,
  };
}

export function windowOf(s: WindowFigures, windowMs: number): WindowJson {
  return {
    seconds: windowMs / 1000,
    requests: s.requests,
    responses: s.responses,
    errors: s.errors,
    timeouts: s.timeouts,
    late: s.late,
    responseRate: nullable(s.responseRate),
    avgLatencySeconds: nullable(s.avgLatencySeconds),
    p95LatencySeconds: nullable(s.p95LatencySeconds),
    p99LatencySeconds: nullable(s.p99LatencySeconds),
  };
}

export function trendDetailJson(d: TrendFigures): TrendDetailJson {
  return {
    recentSamples: d.recentSamples,
    baselineSamples: d.baselineSamples,
    recentMeanLatencySeconds: nullable(d.recentMean),
    baselineMeanLatencySeconds: nullable(d.baselineMean),
    latencyRatio: nullable(d.ratio),
    t: nullable(d.t),
    recentRequests: d.recentRequests,
    baselineRequests: d.baselineRequests,
    recentFailureRate: nullable(d.recentFailureRate),
    baselineFailureRate: nullable(d.baselineFailureRate),
    z: nullable(d.z),
  };
}

function historyJson(h: MinuteHistory, key: string, wallMs: number): HistoryJson {
  const p = h.points(key, wallMs);
  return { intervalSeconds: 60, start: iso(p.startMs), p95LatencySeconds: p.p95, responseRate: p.rate };
}

function iso(wallMs: number): string {
  return new Date(Math.round(wallMs)).toISOString();
}

const lastHeardOf = (d: DeviceView) => d.lastHeard;
const byId = (a: DeviceView, b: DeviceView) => cmp(a.id, b.id);

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
