import type { RecentOutcome } from '../correlate/index.js';
import type { Exporter } from '../exporter.js';
import { BATTERY_BANDS, type Device, emptyCounts, type FleetCounts } from '../fleet/index.js';
import type { StreamStats, SymbolStats } from '../stats/index.js';
import { emptyTrendDetail, type TrendDetail } from '../stats/index.js';
import type { WindowSnapshot } from '../stats/index.js';
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

/** The API's view of the exporter: snapshots at most `MAX_AGE_MS` old, and what must outlive one. */
export class ApiState {
  readonly startedWallMs: number;
  readonly history = new MinuteHistory();
  private readonly quotePath = new MinuteHistory();
  private readonly counts: FleetCounts = emptyCounts();
  private readonly rateAt = new Float64Array(RATE_SAMPLES);
  private readonly rateCount = new Float64Array(RATE_SAMPLES);
  private rateNext = 0;
  private rateFilled = 0;
  private snap: Snapshot | undefined;
  builds = 0;

  constructor(readonly exporter: Exporter) {
    const now = exporter.clock();
    this.startedWallMs = exporter.wallClock(now);
    this.sampleRate(now);
  }

  /** The current snapshot, rebuilt first when older than `MAX_AGE_MS`. */
  current(): Snapshot {
    const now = this.exporter.clock();
    const s = this.snap;
    if (s !== undefined && now - s.now < MAX_AGE_MS) return s;
    this.snap = this.build(now);
    return this.snap;
  }

  private build(now: number): Snapshot {
    const e = this.exporter;
    this.builds++;
    e.quotes.refresh(now);
    e.fleet.count(now, this.counts);
    const wallMs = e.wallClock(now);
    for (const st of e.quotes.streamList()) {
      this.history.record(st.name, wallMs, st.snap.p95LatencySeconds, st.snap.responseRate);
    }
    const all = e.quotes.allSnap;
    this.quotePath.record('', wallMs, all.p95LatencySeconds, all.responseRate);
    const perSecond = this.rate(now);
    this.sampleRate(now);
    return new Snapshot(this, now, wallMs, this.counts, perSecond);
  }

  quotePathHistory(wallMs: number): HistoryJson {
    return historyJson(this.quotePath, '', wallMs);
  }

  private sampleRate(now: number): void {
    const last = (this.rateNext + RATE_SAMPLES - 1) % RATE_SAMPLES;
    // Samples closer than a second apart add nothing but would push older ones out.
    if (this.rateFilled > 0 && now - this.rateAt[last]! < MAX_AGE_MS) return;
    this.rateAt[this.rateNext] = now;
    this.rateCount[this.rateNext] = this.exporter.messages;
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
    return ((this.exporter.messages - count) * 1000) / span;
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
  private readonly symbolJson = new Map<SymbolStats, SymbolJson>();
  private readonly sorted = new Map<SymbolSort, SymbolStats[]>();
  private readonly deviceLists = new Map<string, DeviceListJson>();
  private readonly symbolLists = new Map<string, SymbolListJson>();
  private trendList: TrendEntryJson[] | undefined;

  constructor(
    private readonly state: ApiState,
    readonly now: number,
    readonly wallMs: number,
    counts: FleetCounts,
    messagesPerSecond: number,
  ) {
    this.generatedAt = iso(wallMs);
    const q = state.exporter.quotes;
    const symbolsPerStream = new Map<StreamStats, number>();
    for (const s of q.symbolList()) symbolsPerStream.set(s.stream, (symbolsPerStream.get(s.stream) ?? 0) + 1);
    const streams: StreamJson[] = [];
    for (const st of q.streamList()) {
      const j: StreamJson = {
        stream: st.name,
        symbols: symbolsPerStream.get(st) ?? 0,
        totals: totalsOf(st),
        window: windowOf(st.snap, q.config.window.windowMs),
        score: nullable(st.score),
        health: nullable(st.health),
        down: st.down,
        trend: st.trendNow,
        history: historyJson(state.history, st.name, wallMs),
      };
      streams.push(j);
      this.streamByName.set(st.name, j);
    }
    streams.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
    this.streams = { generatedAt: this.generatedAt, streams };
    this.stats = this.buildStats(counts, messagesPerSecond);
  }

  private buildStats(counts: FleetCounts, messagesPerSecond: number): StatsJson {
    const e = this.state.exporter;
    const q = e.quotes;
    const cfg = q.config;
    const byKind: Record<string, number> = {};
    for (const { labels, value } of e.catalog.messages.entries()) byKind[labels.kind!] = value;
    const byFirmware = new Map<string, number>();
    const byVersion: StatsJson['devices']['byVersion'] = [];
    for (const [key, n] of counts.byVersion) {
      const [firmware, innerVersion, flashId] = key.split('\u0000') as [string, string, string];
      byFirmware.set(firmware, (byFirmware.get(firmware) ?? 0) + n);
      byVersion.push({ firmware, innerVersion, flashId, online: n });
    }
    byVersion.sort(
      (a, b) =>
        b.online - a.online ||
        cmp(a.firmware, b.firmware) ||
        cmp(a.innerVersion, b.innerVersion) ||
        cmp(a.flashId, b.flashId),
    );
    const battery: Record<string, number> = {};
    for (let i = 0; i < BATTERY_BANDS.length; i++) battery[BATTERY_BANDS[i]!] = counts.byBattery[i]!;
    const events = e.fleet.offlineEvents();
    const recentlyOffline: StatsJson['devices']['recentlyOffline'] = [];
    for (let i = events.length - 1; i >= 0 && recentlyOffline.length < RECENT_OFFLINE_SHOWN; i--) {
      const ev = events[i]!;
      const dev = e.fleet.get(ev.device);
      recentlyOffline.push({
        device: ev.device,
        at: iso(e.wallClock(ev.at)),
        lastHeardAt: iso(e.wallClock(ev.lastHeard)),
        firmware: ev.firmware,
        online: dev !== undefined && e.fleet.isOnline(dev, this.now),
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
    for (const st of q.streamList()) {
      totals.requests += st.requests.value;
      totals.responses += st.responses.value;
      totals.timeouts += st.timeouts.value;
      totals.errors += st.errors;
      totals.late += st.late.value;
      totals.interrupted += st.interrupted;
      totals.nonQuote += st.nonQuote;
    }
    let unmatched = 0;
    for (const { value } of e.catalog.unmatched.entries()) unmatched += value;
    const worstSymbols: RankedSymbolJson[] = q
      .worstNow()
      .map((r) => ({ rank: r.rank, ...this.symbol(r.symbol) }));
    return {
      generatedAt: this.generatedAt,
      startedAt: iso(this.state.startedWallMs),
      health: nullable(q.allHealth),
      messages: { total: e.messages, perSecond: nullable(messagesPerSecond), byKind },
      devices: {
        tracked: e.fleet.size,
        online: counts.online,
        offline: counts.offline,
        byFirmware: [...byFirmware]
          .map(([firmware, online]) => ({ firmware, online }))
          .sort((a, b) => b.online - a.online || cmp(a.firmware, b.firmware)),
        byVersion,
        charging: { ...counts.byCharging },
        battery,
        recentlyOffline,
      },
      quotes: {
        totals: { ...totals, unmatched },
        window: windowOf(q.allSnap, cfg.window.windowMs),
        history: this.state.quotePathHistory(this.wallMs),
        pending: e.correlator.pendingRequests,
        symbols: q.symbolCount,
        streams: q.streamCount,
      },
      worstSymbols,
      settings: {
        requestTimeoutSeconds: cfg.requestTimeoutMs / 1000,
        windowSeconds: cfg.window.windowMs / 1000,
        objectiveResponseRate: cfg.objectives.responseRate,
        objectiveP95LatencySeconds: cfg.objectives.p95Seconds,
        rankingSize: cfg.rankingSize,
        rankingMinRequests: cfg.rankingMinRequests,
      },
    };
  }

  stream(name: string): StreamDetailJson | undefined {
    const j = this.streamByName.get(name);
    if (j === undefined) return undefined;
    const symbolNames: string[] = [];
    for (const s of this.state.exporter.quotes.symbolList())
      if (s.stream.name === name) symbolNames.push(s.name);
    symbolNames.sort(cmp);
    return { generatedAt: this.generatedAt, ...j, symbolNames };
  }

  symbol(s: SymbolStats): SymbolJson {
    let j = this.symbolJson.get(s);
    if (j === undefined) {
      j = {
        symbol: s.name,
        stream: s.stream.name,
        streamObserved: s.streamObserved,
        totals: totalsOf(s),
        window: windowOf(s.snap, this.state.exporter.quotes.config.window.windowMs),
        score: nullable(s.score),
        health: nullable(s.health),
        down: s.down,
        trend: s.trendNow,
      };
      this.symbolJson.set(s, j);
    }
    return j;
  }

  symbolDetail(name: string): SymbolDetailJson | undefined {
    const s = this.state.exporter.quotes.getSymbol(name);
    if (s === undefined) return undefined;
    return {
      generatedAt: this.generatedAt,
      ...this.symbol(s),
      trendDetail: trendDetailJson(s.trend.detail(this.now)),
    };
  }

  symbols(query: SymbolQuery): SymbolListJson {
    const key = `${query.sort}|${query.limit}|${query.minRequests}|${query.stream ?? ''}`;
    const cached = this.symbolLists.get(key);
    if (cached !== undefined) return cached;
    let order = this.sorted.get(query.sort);
    if (order === undefined) {
      order = [...this.state.exporter.quotes.symbolList()].sort(SYMBOL_ORDERS[query.sort]);
      this.sorted.set(query.sort, order);
    }
    const out: SymbolJson[] = [];
    let total = 0;
    for (const s of order) {
      if (query.stream !== undefined && s.stream.name !== query.stream) continue;
      if (s.snap.requests < query.minRequests) continue;
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
      const q = this.state.exporter.quotes;
      const keys: { k: SymbolStats | StreamStats; stream: string | null; detail: TrendDetailJson }[] = [];
      const scratch = emptyTrendDetail();
      const consider = (k: SymbolStats | StreamStats, stream: string | null) => {
        if (k.trendNow === 'stable') return;
        const d = k.trend.detail(this.now, scratch);
        // Idle for the whole trend horizon: no trend to speak of, only noise in the list.
        if (d.recentRequests + d.baselineRequests === 0) return;
        keys.push({ k, stream, detail: trendDetailJson(d) });
      };
      for (const st of q.streamList()) consider(st, null);
      for (const s of q.symbolList()) consider(s, s.stream.name);
      keys.sort((a, b) => trendOrder(a.k, b.k));
      this.trendList = keys.map(({ k, stream, detail }) => ({
        kind: stream === null ? 'stream' : 'symbol',
        name: k.name,
        stream,
        trend: k.trendNow,
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
    const fleet = this.state.exporter.fleet;
    const now = this.now;
    const matching: Device[] = [];
    for (const d of fleet.all()) {
      if (query.status === undefined || fleet.status(d, now) === query.status) matching.push(d);
    }
    const top = largestBy(matching, query.limit, lastHeardOf, byId);
    const total = matching.length;
    list = {
      generatedAt: this.generatedAt,
      status: query.status ?? null,
      total,
      devices: top.map((d) => deviceSummary(this.state.exporter, d, now)),
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
export function deviceDetail(e: Exporter, id: string): DeviceDetailJson | undefined {
  const dev = e.fleet.get(id);
  if (dev === undefined) return undefined;
  const now = e.clock();
  const c = e.correlator;
  return {
    generatedAt: iso(e.wallClock(now)),
    ...deviceSummary(e, dev, now),
    messages: dev.messages,
    vin: nullable(dev.vin),
    uptimeSeconds: nullable(dev.uptime),
    uptimeReportedAt: Number.isNaN(dev.uptimeAt) ? null : iso(e.wallClock(dev.uptimeAt)),
    wifiConnectionsLost: nullable(dev.wifiLost),
    flashCheck: nullable(dev.flashCheck),
    updateIntervalSeconds: dev.updateIntervalMs > 0 ? dev.updateIntervalMs / 1000 : null,
    reboots: dev.reboots,
    lastBootAt: Number.isNaN(dev.lastBootAt) ? null : iso(e.wallClock(dev.lastBootAt)),
    bootPending: dev.bootPending,
    pendingRequests: c.pendingFor(id),
    recentRequests: c.recentFor(id).map((o: RecentOutcome) => ({
      requestedAt: iso(e.wallClock(o.requestedAt)),
      symbol: o.symbol,
      outcome: o.outcome,
      latencySeconds: nullable(o.latencySeconds),
      replyType: o.replyType,
    })),
  };
}

function deviceSummary(e: Exporter, d: Device, now: number): DeviceSummaryJson {
  return {
    device: d.id,
    online: e.fleet.isOnline(d, now),
    firstHeardAt: iso(e.wallClock(d.firstHeard)),
    lastHeardAt: iso(e.wallClock(d.lastHeard)),
    silentSeconds: Math.max(0, now - d.lastHeard) / 1000,
    offlineAfterSeconds: e.fleet.offlineAfterMs(d) / 1000,
    firmware: d.firmware,
    innerVersion: d.innerVersion,
    flashId: d.flashId,
    battery: nullable(d.battery),
    charging: d.charging === 1 ? 'charging' : d.charging === 0 ? 'not_charging' : 'unknown',
    shownSymbol: e.correlator.shownSymbol(d.id) ?? null,
  };
}

export function totalsOf(t: SymbolStats | StreamStats): Totals {
  const errorsByType: Record<string, number> = {};
  let errors = 0;
  for (const [type, c] of t.errorsByType) {
    errorsByType[type] = c.value;
    errors += c.value;
  }
  return {
    requests: t.requests.value,
    responses: t.responses.value,
    timeouts: t.timeouts.value,
    errors,
    late: t.late.value,
    interrupted: t.interrupted,
    nonQuote: t.nonQuote,
    errorsByType,
  };
}

export function windowOf(s: WindowSnapshot, windowMs: number): WindowJson {
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

export function trendDetailJson(d: TrendDetail): TrendDetailJson {
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

const lastHeardOf = (d: Device) => d.lastHeard;
const byId = (a: Device, b: Device) => cmp(a.id, b.id);

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
