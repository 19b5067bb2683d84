import type { Config } from './config/index.js';
import { Correlator } from './correlate/index.js';
import { DecodedMessage, decodeMessage, INVALID_REASONS, type InvalidReason } from './decode/index.js';
import { MESSAGE_KINDS, type MessageKind } from './decode/index.js';
import { type Catalog, createCatalog } from './metrics/index.js';
import { GaugeCollector } from './metrics/index.js';
import { registerProcessMetrics } from './export/index.js';
import { type Counter, CounterFamily, HistogramFamily, Registry } from './export/index.js';
import { Fleet } from './fleet/index.js';
import { type Logger, RateLimitedLog } from './log.js';
import type { LinkState } from './source/index.js';
import { QuoteStats } from './stats/index.js';
import type { ReadModel } from './view/index.js';
import { ExporterReadModel } from './exporter.view.js';

/** Monotonic milliseconds: latencies must not jump with the wall clock. */
export const monotonicNow = (): number => performance.now();
const toWallClock = (monotonicMs: number): number => performance.timeOrigin + monotonicMs;

/** The state snapshot format this build writes and reads (src/state). */
export const STATE_VERSION = 1;

/** The settings that give a snapshot's windows their meaning: another value sets it aside. */
export function stateFingerprint(cfg: Config): string {
  const base = `window=${cfg.stats.window},slots=${cfg.stats.windowSlots},baseline=${cfg.stats.trendBaseline}`;
  if (!replaysExactly(cfg)) return base;
  // An exact snapshot is a position in one partition of one stream.
  const n = cfg.source.nats;
  return `${base},nats=${n.stream}/${n.partition}/${n.partitions}`;
}

/**
 * Whether the exporter reads a source that replays exactly what followed its state snapshot: a
 * NATS partition with `state.dir`. Its counters then continue across restarts.
 */
export function replaysExactly(cfg: Config): boolean {
  return (
    cfg.state.dir !== undefined &&
    cfg.embeddedBroker === undefined &&
    cfg.source.nats.url !== undefined &&
    cfg.source.nats.partition !== undefined
  );
}

export interface ExporterOptions {
  config: Config;
  logger: Logger;
  /** Monotonic milliseconds; tests pass their own. */
  clock?: () => number;
  /** Process metrics are global to the process; embedders with several exporters register them once. */
  processMetrics?: boolean;
  /**
   * The source replays exactly every message after the state snapshot (NATS with `state.dir`):
   * the snapshot then also holds the counters, open requests and boots, and a restore takes them
   * back as they were instead of restarting the counters (README "State across restarts").
   */
  exactReplay?: boolean;
}

/** Counters whose values mirror a total kept elsewhere (the process's CPU time, the fleet's reboots). */
const MIRRORED_TOTALS = new Set([
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_seconds_total',
  'tickrmeter_device_reboots_total',
]);

/**
 * Counters an exact replay leaves out of the snapshot: mirrors, and the HTTP server's own counts
 * (`tkmprom_http_*`), which describe this process's clients, not the fleet's stream, and which the
 * server registers only once it starts, after the restore.
 */
function restartsWithProcess(family: string): boolean {
  return MIRRORED_TOTALS.has(family) || family.startsWith('tkmprom_http_');
}

/**
 * The exporter's data path, from raw MQTT messages to metrics: decode, then fleet state and
 * correlation, then stats, read by the exposition. Sources call `handle` for every message.
 * The JSON API and the status page read `view`, its read model (src/view); the exposition reads
 * `registry`. The stages themselves stay inside: what anyone else reads of them goes through
 * one of these two.
 */
export class Exporter {
  /** The metrics, for the exposition (and for what the HTTP server registers of its own). */
  readonly registry = new Registry();
  /** What the JSON API, the status page and their snapshots read. */
  readonly view: ReadModel;
  private readonly catalog: Catalog;
  private readonly fleet: Fleet;
  private readonly quotes: QuoteStats;
  private readonly correlator: Correlator;
  /** Monotonic ms, continuing a restored snapshot's time; others read it as `view.now()`. */
  private readonly clock: () => number;
  /** Monotonic ms to wall-clock ms, in the frame of `clock`. */
  private readonly wallClock: (monotonicMs: number) => number;
  /**
   * Added to the process's monotonic clock once a state snapshot is restored, so that the
   * exporter's time continues the saved one's: every time kept in the state stays valid as it is.
   */
  private clockOffset = 0;
  private readonly decoded = new DecodedMessage();
  /** Messages by kind, the exporter's own count: `tkmprom_messages_total` is set from it at each scrape. */
  private readonly kindCounts: Record<MessageKind, number>;
  private readonly kindCounters: Record<MessageKind, Counter>;
  private readonly invalidCounters: Record<InvalidReason, Counter>;
  private readonly badInputLog: RateLimitedLog;
  private readonly maxPayloadBytes: { maxPayloadBytes: number };
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopProcessMetrics: (() => void) | undefined;
  private messageCount = 0;
  /** While a snapshot of an exact replay is written, nothing may change: the sweep waits. */
  private frozen = false;
  /**
   * Set by a source that batches its reads: how far behind the broker it reads now. The sweep times
   * requests out by the time up to which messages have been read, so that a reply waiting in a
   * batching pause is not missed.
   */
  readLag: () => number = () => 0;
  /** Set by a source that watches its link; without one the clock always decides timeouts. */
  link: LinkState | undefined;
  /** Time of the latest message read, in `clock`'s frame; NaN before the first. */
  private lastMessageAt = Number.NaN;
  /** When the exporter started, for the last message's age before there is one. */
  private startedAt: number;

  constructor(private readonly opts: ExporterOptions) {
    const cfg = opts.config;
    const base = opts.clock ?? monotonicNow;
    this.clock = () => base() + this.clockOffset;
    this.wallClock = (monotonicMs) => toWallClock(monotonicMs - this.clockOffset);
    this.startedAt = this.clock();
    this.catalog = createCatalog(this.registry, cfg.stats.latencyBuckets, {
      histograms: cfg.stats.histograms,
      windowLatencyGauges: cfg.stats.windowLatencyGauges,
    });
    this.quotes = new QuoteStats(this.catalog, {
      window: { windowMs: cfg.stats.window, slots: cfg.stats.windowSlots },
      trend: { recentMs: cfg.stats.window, baselineMs: cfg.stats.trendBaseline },
      objectives: {
        responseRate: cfg.stats.objectiveResponseRate,
        p95Seconds: cfg.stats.objectiveP95 / 1000,
      },
      requestTimeoutMs: cfg.correlation.requestTimeout,
      maxSymbols: cfg.limits.maxSymbols,
      maxStreams: cfg.limits.maxStreams,
      rankingSize: cfg.stats.rankingSize,
      rankingMinRequests: cfg.stats.rankingMinRequests,
      streamRules: cfg.streams.rules,
    });
    this.fleet = new Fleet(
      {
        deviceTimeoutMs: cfg.fleet.deviceTimeout,
        maxDevices: cfg.limits.maxDevices,
        bootMessageDelayMs: 120_000,
        maxLabelValues: cfg.limits.maxLabelValues,
        recentOfflineSize: 100,
      },
      (what, n) => {
        for (let i = 0; i < n; i++) this.quotes.eviction(what);
      },
    );
    this.correlator = new Correlator(
      {
        requestTimeoutMs: cfg.correlation.requestTimeout,
        lateWindowMs: cfg.correlation.lateWindow,
        maxPendingPerDevice: cfg.limits.maxPendingPerDevice,
        maxPendingTotal: cfg.limits.maxPendingTotal,
        maxDevices: cfg.limits.maxDevices,
      },
      this.quotes,
    );
    this.kindCounts = Object.fromEntries(MESSAGE_KINDS.map((k) => [k, 0])) as Record<MessageKind, number>;
    this.kindCounters = Object.fromEntries(
      MESSAGE_KINDS.map((k) => [k, this.catalog.messages.labels(k)]),
    ) as Record<MessageKind, Counter>;
    this.invalidCounters = Object.fromEntries(
      INVALID_REASONS.map((r) => [r, this.catalog.invalid.labels(r)]),
    ) as Record<InvalidReason, Counter>;
    this.badInputLog = new RateLimitedLog(opts.logger);
    this.maxPayloadBytes = { maxPayloadBytes: cfg.limits.maxPayloadBytes };

    const collector = new GaugeCollector(
      this.catalog,
      this.quotes,
      this.fleet,
      cfg.perDeviceMetrics,
      this.clock,
      this.wallClock,
      cfg.stats.rankingMetric,
    );
    this.registry.onCollect(() => {
      this.sweep();
      collector.collect();
      this.publishMessageCounts();
      this.catalog.pending.labels().set(this.correlator.pendingRequests);
      const since = Number.isNaN(this.lastMessageAt) ? this.startedAt : this.lastMessageAt;
      this.catalog.mqttLastMessageAge.labels().set(Math.max(0, this.clock() - since) / 1000);
    });
    if (opts.processMetrics !== false) this.stopProcessMetrics = registerProcessMetrics(this.registry);
    this.view = new ExporterReadModel({
      quotes: this.quotes,
      fleet: this.fleet,
      correlator: this.correlator,
      clock: this.clock,
      wallClock: this.wallClock,
      messages: () => this.messageCount,
      messagesByKind: this.kindCounts,
    });
  }

  /**
   * Everything a restart would otherwise lose, as records for a state snapshot (src/state): the
   * clock, the fleet, the windows and trends, the devices' latest outcomes. Drawn lazily, so a
   * large state is written between messages.
   */
  *stateRecords(): Generator<readonly [string, unknown]> {
    yield ['clock', { monotonicMs: this.clock(), wallMs: Date.now() }];
    yield* this.fleet.stateRecords();
    yield* this.quotes.stateRecords();
    yield* this.correlator.stateRecords();
    if (this.opts.exactReplay !== true) return;
    yield ['reboots', Array.from(this.fleet.reboots())];
    // The message counts reach their counter at each scrape; a snapshot needs them as of now.
    this.publishMessageCounts();
    for (const f of this.registry.listFamilies()) {
      if (!(f instanceof CounterFamily || f instanceof HistogramFamily)) continue;
      if (restartsWithProcess(f.name) || f.size === 0) continue;
      yield ['totals', { name: f.name, series: f.totals() }];
    }
  }

  /** After the last restored record: what an exact restore took back joins the sweep. */
  finishRestore(): void {
    this.correlator.finishRestore();
  }

  /**
   * Holds the sweep while a snapshot of an exact replay is drawn and written (the source holds
   * the messages meanwhile), so the snapshot is the state after one stream sequence.
   */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
  }

  /**
   * Takes back one record of `stateRecords`, before the exporter starts. The first record, the
   * clock, moves this exporter's time to where the saved one's would be now.
   */
  restoreRecord([section, value]: readonly [string, unknown]): void {
    switch (section) {
      case 'clock': {
        const c = value as { monotonicMs?: unknown; wallMs?: unknown };
        if (typeof c?.monotonicMs !== 'number' || typeof c.wallMs !== 'number')
          throw new TypeError('clock: expected two times');
        // A wall clock set back meanwhile must not move monotonic time backwards.
        const elapsed = Math.max(0, Date.now() - c.wallMs);
        this.clockOffset = 0;
        this.clockOffset = c.monotonicMs + elapsed - this.clock();
        break;
      }
      case 'device':
      case 'offline':
        this.fleet.restoreRecord(section, value);
        break;
      case 'stream':
      case 'symbol':
      case 'quotes':
        this.quotes.restoreRecord(section, value);
        break;
      case 'correlation':
        this.correlator.restoreRecord(value, this.clock(), this.opts.exactReplay === true);
        break;
      case 'reboots':
        if (this.opts.exactReplay === true) this.fleet.restoreReboots(value);
        break;
      case 'totals': {
        if (this.opts.exactReplay !== true) break;
        const t = value as { name?: unknown; series?: unknown };
        const f = typeof t?.name === 'string' ? this.registry.getFamily(t.name) : undefined;
        if (!Array.isArray(t.series)) throw new TypeError('totals: expected a list of series');
        if (f instanceof HistogramFamily) f.restoreTotals(t.series as [string[], number[], number][]);
        else if (f instanceof CounterFamily) f.restoreTotals(t.series as [string[], number][]);
        else throw new TypeError(`totals: no counter or histogram ${String(t?.name)}`);
        // The exporter keeps these counts itself and copies them into their counter at each scrape.
        if (f === this.catalog.messages) {
          for (const k of MESSAGE_KINDS) this.kindCounts[k] = this.kindCounters[k].value;
        }
        break;
      }
      default:
        throw new TypeError(`unknown section "${section}"`);
    }
  }

  /** Copies the exporter's own message counts into `tkmprom_messages_total`. */
  private publishMessageCounts(): void {
    for (const k of MESSAGE_KINDS) this.kindCounters[k].value = this.kindCounts[k];
  }

  /** Messages handled since start, for rates and tests. */
  get messages(): number {
    return this.messageCount;
  }

  /**
   * The hot path: one decode, then straight calls into the stages, nothing allocated here. The
   * correlator is given the fleet's copy of the device id: the decoder's copy is often a fresh
   * string, and a second copy per device would live as long as the device.
   */
  handle(topic: string, payload: Buffer, ageMs = 0): void {
    const now = this.clock() - ageMs;
    const m = this.decoded;
    this.messageCount++;
    this.lastMessageAt = now;
    if (!decodeMessage(topic, payload, m, this.maxPayloadBytes)) {
      this.kindCounts.invalid++;
      this.invalidCounters[m.invalidReason!].value++;
      this.badInputLog.debug(
        now,
        { topic, reason: m.invalidReason, bytes: payload.length },
        'dropped invalid message',
      );
      return;
    }
    this.kindCounts[m.kind]++;
    switch (m.kind) {
      case 'request':
        this.correlator.request(this.fleet.heard(m.device, now).id, m.symbol, now);
        break;
      case 'reply':
        m.device = this.fleet.reply(m.device, m.updateIntervalSeconds, now).id;
        this.correlator.reply(m, now);
        break;
      case 'heartbeat':
        this.fleet.heartbeat(m, now);
        break;
      case 'boot':
        this.correlator.boot(this.fleet.boot(m.device, now).id, now);
        break;
      case 'device_booted':
        this.correlator.deviceBooted(this.fleet.heard(m.device, now).id, now);
        break;
      case 'http_stream_request': {
        const device = this.fleet.heard(m.device, now).id;
        if (m.symbol !== undefined) this.quotes.streamSeen(m.symbol, m.stream!);
        this.correlator.httpStream(device, m.symbol, now);
        break;
      }
      case 'log':
        if (m.device !== '') this.fleet.heard(m.device, now);
        break;
      default:
        break;
    }
  }

  /**
   * Times out what is due (docs/correlation.md, "When a request times out"). While the link is
   * healthy the clock decides up to the feed's own expected lull past the latest message, so a small
   * fleet's timeouts are counted at their deadline even when nothing else arrives meanwhile, while a
   * fast feed that stops does not let the clock run on for it. Once the feed has been quiet past
   * its silence threshold, or the connection is down, only the stream's own time decides: a request
   * times out only if a message read after its deadline shows that time went on without its reply.
   */
  sweep(): void {
    if (this.frozen) return;
    const now = this.clock() - this.readLag();
    const link = this.link;
    if (link === undefined) this.correlator.sweep(now);
    // Before the first message only a healthy link lets the clock decide: a restored exporter's
    // requests wait for the replay that brings their replies.
    else if (Number.isNaN(this.lastMessageAt)) {
      if (link.healthy()) this.correlator.sweep(now);
    } else if (link.healthy()) this.correlator.sweep(Math.min(now, this.lastMessageAt + link.clockGraceMs()));
    else this.correlator.sweep(Math.min(now, this.lastMessageAt));
  }

  /** The source lost its broker: what was pending cannot be answered where we can see it. */
  connectionLost(): void {
    this.correlator.interruptAll(this.clock());
  }

  /** The feed fell silent on a live connection: as a lost connection, and counted. */
  silenced(_silentMs: number): void {
    this.catalog.mqttSilences.labels().value++;
    this.correlator.interruptAll(this.clock());
  }

  /** A PUBLISH too large to read, skipped by the source as it streamed in: a message, invalid. */
  oversize(topic: string, bytes: number): void {
    const now = this.clock();
    this.messageCount++;
    this.lastMessageAt = now;
    this.kindCounts.invalid++;
    this.invalidCounters.oversize.value++;
    this.badInputLog.debug(now, { topic, reason: 'oversize', bytes }, 'dropped invalid message');
  }

  setConnected(connected: boolean): void {
    this.catalog.mqttConnected.labels().set(connected ? 1 : 0);
  }

  reconnected(): void {
    this.catalog.mqttReconnects.labels().value++;
  }

  start(): void {
    if (this.sweepTimer !== undefined) return;
    this.startedAt = this.clock();
    this.sweepTimer = setInterval(() => this.sweep(), this.opts.config.correlation.sweepInterval);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.stopProcessMetrics?.();
    this.stopProcessMetrics = undefined;
  }
}
