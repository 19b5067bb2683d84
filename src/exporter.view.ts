import type { Correlator } from './correlate/index.js';
import { BATTERY_BANDS, emptyCounts, type Fleet } from './fleet/index.js';
import type { QuoteStats, StreamStats, SymbolStats } from './stats/index.js';
import type {
  DeviceStatus,
  DeviceView,
  FleetFigures,
  KeyView,
  OfflineRecord,
  OutcomeRecord,
  OutcomeTotals,
  QuotePathView,
  QuoteSettings,
  RankedSymbol,
  ReadModel,
  StreamView,
  SymbolView,
  Trend,
  TrendFigures,
  WindowFigures,
} from './view/index.js';

/** What the read model is built from: the stages, the exporter's clocks and its message counts. */
export interface ReadModelParts {
  quotes: QuoteStats;
  fleet: Fleet;
  correlator: Correlator;
  clock: () => number;
  wallClock: (monotonicMs: number) => number;
  messages: () => number;
  messagesByKind: Readonly<Record<string, number>>;
}

type Stats = SymbolStats | StreamStats;

class Totals implements OutcomeTotals {
  constructor(private readonly s: Stats) {}
  get requests(): number {
    return this.s.requests.value;
  }
  get responses(): number {
    return this.s.responses.value;
  }
  get timeouts(): number {
    return this.s.timeouts.value;
  }
  get late(): number {
    return this.s.late.value;
  }
  get interrupted(): number {
    return this.s.interrupted;
  }
  get nonQuote(): number {
    return this.s.nonQuote;
  }
  *errorsByType(): Iterable<readonly [string, number]> {
    for (const [type, c] of this.s.errorsByType) yield [type, c.value];
  }
}

class KeyReader implements KeyView {
  readonly name: string;
  /** The stats' own snapshot object, which each refresh fills anew. */
  readonly window: WindowFigures;
  readonly totals: OutcomeTotals;
  constructor(protected readonly s: Stats) {
    this.name = s.name;
    this.window = s.snap;
    this.totals = new Totals(s);
  }
  get score(): number {
    return this.s.score;
  }
  get health(): number {
    return this.s.health;
  }
  get down(): boolean {
    return this.s.down;
  }
  get trend(): Trend {
    return this.s.trendNow;
  }
  trendDetail(now: number, out?: TrendFigures): TrendFigures {
    return this.s.trend.detail(now, out);
  }
}

class SymbolReader extends KeyReader implements SymbolView {
  constructor(private readonly sym: SymbolStats) {
    super(sym);
  }
  get stream(): string {
    return this.sym.stream.name;
  }
  get streamObserved(): boolean {
    return this.sym.streamObserved;
  }
}

/**
 * The exporter's read model (src/view): the stats, the fleet and the correlator read through
 * views of their own, so the API never holds a stage's object. A symbol's or a stream's view is
 * made once and kept as long as the stats keep the key; the fleet's devices are handed out as
 * they are, typed as `DeviceView`, so listing 100,000 devices copies nothing.
 */
export class ExporterReadModel implements ReadModel {
  private readonly symbolViews = new WeakMap<SymbolStats, SymbolReader>();
  private readonly streamViews = new WeakMap<StreamStats, KeyReader>();
  private symbolList: SymbolReader[] = [];
  private streamList: KeyReader[] = [];
  private readonly counts = emptyCounts();
  private readonly fleetFigures: FleetFigures;
  private readonly battery = BATTERY_BANDS.map((band) => ({ band, online: 0 }));
  private readonly path: QuotePathView;
  private readonly settingsView: QuoteSettings;

  constructor(private readonly p: ReadModelParts) {
    const { quotes, fleet, correlator } = p;
    const counts = this.counts;
    this.fleetFigures = {
      get tracked() {
        return fleet.size;
      },
      get online() {
        return counts.online;
      },
      get offline() {
        return counts.offline;
      },
      versions: counts.versions,
      charging: counts.byCharging,
      battery: this.battery,
    };
    this.path = {
      get window() {
        return quotes.allSnap;
      },
      get health() {
        return quotes.allHealth;
      },
      get pendingRequests() {
        return correlator.pendingRequests;
      },
      get unmatchedReplies() {
        return quotes.unmatchedReplies;
      },
    };
    const cfg = quotes.config;
    this.settingsView = {
      requestTimeoutMs: cfg.requestTimeoutMs,
      windowMs: cfg.window.windowMs,
      objectiveResponseRate: cfg.objectives.responseRate,
      objectiveP95Seconds: cfg.objectives.p95Seconds,
      rankingSize: cfg.rankingSize,
      rankingMinRequests: cfg.rankingMinRequests,
    };
  }

  now(): number {
    return this.p.clock();
  }

  wallTime(monotonicMs: number): number {
    return this.p.wallClock(monotonicMs);
  }

  messagesSeen(): number {
    return this.p.messages();
  }

  messagesByKind(): Readonly<Record<string, number>> {
    return this.p.messagesByKind;
  }

  refresh(now: number): void {
    const q = this.p.quotes;
    q.refresh(now);
    const symbols: SymbolReader[] = [];
    for (const s of q.symbolList()) symbols.push(this.symbolView(s));
    this.symbolList = symbols;
    const streams: KeyReader[] = [];
    for (const st of q.streamList()) {
      let v = this.streamViews.get(st);
      if (v === undefined) {
        v = new KeyReader(st);
        this.streamViews.set(st, v);
      }
      streams.push(v);
    }
    this.streamList = streams;
    const c = this.p.fleet.count(now, this.counts);
    for (let i = 0; i < this.battery.length; i++) this.battery[i]!.online = c.byBattery[i]!;
  }

  settings(): QuoteSettings {
    return this.settingsView;
  }

  quotePath(): QuotePathView {
    return this.path;
  }

  symbols(): readonly SymbolView[] {
    return this.symbolList;
  }

  symbolCount(): number {
    return this.p.quotes.symbolCount;
  }

  symbol(name: string): SymbolView | undefined {
    const s = this.p.quotes.getSymbol(name);
    return s === undefined ? undefined : this.symbolView(s);
  }

  streams(): readonly StreamView[] {
    return this.streamList;
  }

  streamCount(): number {
    return this.p.quotes.streamCount;
  }

  worstSymbols(): readonly RankedSymbol[] {
    return this.p.quotes.worstNow().map((r) => ({ rank: r.rank, symbol: this.symbolView(r.symbol) }));
  }

  fleet(): FleetFigures {
    return this.fleetFigures;
  }

  recentlyOffline(): readonly OfflineRecord[] {
    return this.p.fleet.offlineEvents();
  }

  devices(now: number, status?: DeviceStatus): DeviceView[] {
    const fleet = this.p.fleet;
    const out: DeviceView[] = [];
    for (const d of fleet.all()) if (status === undefined || fleet.status(d, now) === status) out.push(d);
    return out;
  }

  device(id: string): DeviceView | undefined {
    return this.p.fleet.get(id);
  }

  isOnline(id: string, now: number): boolean {
    const d = this.p.fleet.get(id);
    return d !== undefined && this.p.fleet.isOnline(d, now);
  }

  offlineAfterMs(id: string): number {
    const d = this.p.fleet.get(id);
    return d === undefined ? Number.NaN : this.p.fleet.offlineAfterMs(d);
  }

  shownSymbol(id: string): string | undefined {
    return this.p.correlator.shownSymbol(id);
  }

  pendingRequests(id: string): number {
    return this.p.correlator.pendingFor(id);
  }

  recentOutcomes(id: string): readonly OutcomeRecord[] {
    return this.p.correlator.recentFor(id);
  }

  private symbolView(s: SymbolStats): SymbolReader {
    let v = this.symbolViews.get(s);
    if (v === undefined) {
      v = new SymbolReader(s);
      this.symbolViews.set(s, v);
    }
    return v;
  }
}
