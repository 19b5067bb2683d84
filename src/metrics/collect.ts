import type { Gauge } from '../export/index.js';
import { BATTERY_BANDS, emptyCounts, type Fleet } from '../fleet/index.js';
import type { QuoteStats, SymbolStats } from '../stats/index.js';
import type { Catalog } from './catalog.js';

export interface PerDeviceSelection {
  devices: readonly string[];
  max: number;
}

interface SymbolGauges {
  avg: Gauge | null;
  p95: Gauge | null;
  p99: Gauge | null;
  rate: Gauge | null;
  health: Gauge | null;
  score: Gauge | null;
}

/**
 * Sets the gauges of the catalog from the state of the stages, at the start of every render:
 * the figures served are those of the moment of the scrape.
 */
export class GaugeCollector {
  private readonly symbolGauges = new Map<SymbolStats, SymbolGauges>();
  private readonly fleetCounts = emptyCounts();
  private readonly perDeviceList: ReadonlySet<string>;

  constructor(
    private readonly cat: Catalog,
    private readonly quotes: QuoteStats,
    private readonly fleet: Fleet,
    private readonly perDevice: PerDeviceSelection,
    private readonly now: () => number,
    private readonly wallClockMs: (monotonicMs: number) => number,
    /** `tickrmeter_slowest_symbols_ranking` filled (`stats.rankingMetric`); else left without series. */
    private readonly rankingMetric = true,
  ) {
    this.perDeviceList = new Set(perDevice.devices);
  }

  collect(): void {
    const now = this.now();
    this.quotes.refresh(now);
    this.collectSymbols();
    this.collectStreams();
    this.collectFleet(now);
    this.collectPerDevice(now);
    const cat = this.cat;
    cat.trackedSymbols.set(this.quotes.symbolCount);
    cat.trackedStreams.set(this.quotes.streamCount);
    cat.trackedDevices.set(this.fleet.size);
    // With no quote outcome in the window nothing is failing: healthy, rather than NaN.
    cat.quotePathHealth.labels().set(Number.isNaN(this.quotes.allHealth) ? 100 : this.quotes.allHealth);
  }

  private collectSymbols(): void {
    const cat = this.cat;
    const minRequests = this.quotes.config.rankingMinRequests;
    for (const s of this.quotes.symbolList()) {
      let g = this.symbolGauges.get(s);
      const snap = s.snap;
      if (snap.requests === 0) {
        if (g !== undefined) {
          for (const f of [
            cat.avgLatency,
            cat.p95Latency,
            cat.p99Latency,
            cat.responseRate,
            cat.symbolHealth,
            cat.slownessScore,
          ]) {
            f.remove(s.name);
          }
          this.symbolGauges.delete(s);
        }
        continue;
      }
      if (g === undefined) {
        g = { avg: null, p95: null, p99: null, rate: null, health: null, score: null };
        this.symbolGauges.set(s, g);
      }
      g.rate = ensure(g.rate, cat.responseRate, s.name, snap.responseRate);
      g.health = ensure(g.health, cat.symbolHealth, s.name, s.health);
      g.avg = ensure(g.avg, cat.avgLatency, s.name, snap.avgLatencySeconds);
      g.p95 = ensure(g.p95, cat.p95Latency, s.name, snap.p95LatencySeconds);
      g.p99 = ensure(g.p99, cat.p99Latency, s.name, snap.p99LatencySeconds);
      // The ranking's own rule: a symbol (not a reserved name), enough requests, an answered quote.
      g.score = ensure(
        g.score,
        cat.slownessScore,
        s.name,
        !s.reserved && snap.requests >= minRequests ? s.score : Number.NaN,
      );
    }
    if (!this.rankingMetric) return;
    cat.ranking.reset();
    for (const r of this.quotes.rankingNow())
      cat.ranking.labels(String(r.rank), r.symbol.name).set(r.symbol.score);
  }

  private collectStreams(): void {
    const cat = this.cat;
    for (const st of this.quotes.streamList()) {
      const snap = st.snap;
      if (snap.requests === 0) {
        cat.streamResponseRate.remove(st.name);
        cat.streamP95Latency.remove(st.name);
        cat.streamHealth.remove(st.name);
        continue;
      }
      cat.streamResponseRate.labels(st.name).set(snap.responseRate);
      setOrRemove(cat.streamP95Latency, st.name, snap.p95LatencySeconds);
      setOrRemove(cat.streamHealth, st.name, st.health);
    }
  }

  private collectFleet(now: number): void {
    const cat = this.cat;
    const c = this.fleet.count(now, this.fleetCounts);
    cat.devicesOnline.reset();
    for (const v of c.versions) cat.devicesOnline.labels(v.firmware, v.innerVersion, v.flashId).set(v.online);
    cat.devicesOffline.labels().set(c.offline);
    cat.devicesByCharging.labels('charging').set(c.byCharging.charging);
    cat.devicesByCharging.labels('not_charging').set(c.byCharging.not_charging);
    cat.devicesByCharging.labels('unknown').set(c.byCharging.unknown);
    for (let i = 0; i < BATTERY_BANDS.length; i++)
      cat.devicesByBattery.labels(BATTERY_BANDS[i]!).set(c.byBattery[i]!);
    for (const [fw, n] of this.fleet.reboots()) cat.reboots.labels(fw).value = n;
  }

  private collectPerDevice(now: number): void {
    if (this.perDeviceList.size === 0 && this.perDevice.max === 0) return;
    const cat = this.cat;
    for (const f of [
      cat.deviceOnline,
      cat.deviceBattery,
      cat.deviceUptime,
      cat.deviceLastSeen,
      cat.deviceWifiLost,
    ]) {
      f.reset();
    }
    let auto = 0;
    for (const dev of this.fleet.all()) {
      const listed = this.perDeviceList.has(dev.id);
      if (!listed) {
        if (auto >= this.perDevice.max) continue;
        auto++;
      }
      cat.deviceOnline.labels(dev.id).set(this.fleet.isOnline(dev, now) ? 1 : 0);
      cat.deviceLastSeen.labels(dev.id).set(Math.round(this.wallClockMs(dev.lastHeard)) / 1000);
      if (!Number.isNaN(dev.battery)) cat.deviceBattery.labels(dev.id).set(dev.battery);
      if (!Number.isNaN(dev.uptime)) cat.deviceUptime.labels(dev.id).set(dev.uptime);
      if (!Number.isNaN(dev.wifiLost)) cat.deviceWifiLost.labels(dev.id).set(dev.wifiLost);
    }
  }
}

function ensure(g: Gauge | null, family: Catalog['avgLatency'], name: string, v: number): Gauge | null {
  if (Number.isNaN(v)) {
    if (g !== null) family.remove(name);
    return null;
  }
  const h = g ?? family.labels(name);
  h.set(v);
  return h;
}

function setOrRemove(family: Catalog['avgLatency'], name: string, v: number): void {
  if (Number.isNaN(v)) family.remove(name);
  else family.labels(name).set(v);
}
