import { ReplyClass } from '../decode/index.js';
import { Fifo } from './fifo.js';
import { OUTCOME_CODES, type OutcomeKind, type RecentOutcome, RecentStore } from './recent-outcomes.js';

/** A symbol as the stats stage interns it; the correlator only passes it along. */
export interface SymbolRef {
  readonly name: string;
  /** Set once the stats forgot the symbol: whoever still holds it must look it up again by name. */
  readonly retired?: boolean;
}

/** Backend hops timed by `tickrmeter_backend_hop_latency_seconds{stage}`. */
export type HopStage =
  | 'boot_to_device_booted'
  | 'device_booted_to_reply'
  | 'request_to_http_stream'
  | 'http_stream_to_reply';

export type CorrelationEviction = 'pending_request' | 'timed_out_request' | 'device_correlation';

/** Where the correlator's verdicts go (the stats stage). Every call is one event, already final. */
export interface QuoteOutcomes {
  symbol(name: string): SymbolRef;
  readonly unknownSymbol: SymbolRef;
  readonly pageSymbol: SymbolRef;
  request(sym: SymbolRef, now: number): void;
  response(sym: SymbolRef, latencySeconds: number, now: number): void;
  error(sym: SymbolRef, type: string, now: number): void;
  nonQuote(sym: SymbolRef, type: string, now: number): void;
  timeout(sym: SymbolRef, now: number): void;
  late(sym: SymbolRef, now: number): void;
  interrupted(sym: SymbolRef, now: number): void;
  unmatched(type: string): void;
  bootToConfig(seconds: number): void;
  hop(stage: HopStage, seconds: number): void;
  eviction(what: CorrelationEviction): void;
}

/** The fields of a decoded reply the correlator reads. */
export interface ReplyFacts {
  device: string;
  symbol: string | undefined;
  replyClass: ReplyClass;
  replyType: string;
  isNew: boolean;
  isPage: boolean;
}

export interface CorrelatorConfig {
  requestTimeoutMs: number;
  lateWindowMs: number;
  maxPendingPerDevice: number;
  maxPendingTotal: number;
  maxDevices: number;
}

const PENDING = 0;
const TIMED_OUT = 1;
const CLOSED = 2;

/**
 * Requests are pooled: one object per request lived just long enough to be copied by every young-generation
 * collection and then promoted, which made the collector the largest single cost per message. An object
 * returns to the pool once it is closed and neither sweep queue holds it, so no reference to it is left.
 */
class PendingRequest {
  state = PENDING;
  /** Symbol counted under once known: the request's own, or resolved at its outcome. */
  charged: SymbolRef | null = null;
  httpAt = Number.NaN;
  dev!: DeviceCorrelation;
  /** The symbol the request named, as sent; null for a symbol-less request. */
  name: string | null = null;
  t = Number.NaN;
  inPendingQueue = false;
  inTimedOutQueue = false;
}

/** Free requests kept for reuse; beyond this (after a burst) they are left to the collector. */
const POOL_MAX = 8192;

export type { OutcomeKind, RecentOutcome } from './recent-outcomes.js';

class DeviceCorrelation {
  pending: PendingRequest[] = [];
  timedOut: PendingRequest[] = [];
  shown: SymbolRef | null = null;
  bootAt = Number.NaN;
  bootedAt = Number.NaN;
  constructor(
    readonly id: string,
    /** Where this device's latest outcomes are kept, and its slot there. */
    readonly store: RecentStore,
    readonly slot: number,
  ) {}
}

/** How a reply chooses among a device's requests (docs/correlation.md, "Pairing"). */
enum Pick {
  SymbolThenSymbolless,
  SymbollessThenSymbol,
  SymbollessThenAny,
  SymbolThenSymbollessThenAny,
  Any,
}

/**
 * Pairs quote requests with replies, per device, by the rules of docs/correlation.md. Time is
 * passed in by the caller (milliseconds on a monotonic clock), so tests drive it exactly and the
 * hot path has no timers: `sweep` runs on one interval for the whole fleet.
 */
export class Correlator {
  private readonly devices = new Map<string, DeviceCorrelation>();
  private readonly pendingQueue = new Fifo<PendingRequest>();
  private readonly timedOutQueue = new Fifo<PendingRequest>();
  private readonly free: PendingRequest[] = [];
  private readonly recent = new RecentStore();
  private pendingTotal = 0;
  /** Requests of an exact restore, queued by `finishRestore` once all are back. */
  private restoredPending: PendingRequest[] = [];
  private restoredTimedOut: PendingRequest[] = [];

  constructor(
    private readonly cfg: CorrelatorConfig,
    private readonly out: QuoteOutcomes,
  ) {}

  get pendingRequests(): number {
    return this.pendingTotal;
  }

  get trackedDevices(): number {
    return this.devices.size;
  }

  /** The symbol a device shows, as far as replies told; for the JSON API. */
  shownSymbol(device: string): string | undefined {
    return this.devices.get(device)?.shown?.name;
  }

  pendingFor(device: string): number {
    return this.devices.get(device)?.pending.length ?? 0;
  }

  /** A device's latest request outcomes, oldest first (copies). */
  recentFor(device: string): RecentOutcome[] {
    const dev = this.devices.get(device);
    if (dev === undefined) return [];
    return dev.store.list(dev.slot);
  }

  request(device: string, symbol: string | undefined, now: number): void {
    const dev = this.device(device, true)!;
    let sym: SymbolRef | null = null;
    if (symbol !== undefined) {
      sym = this.out.symbol(symbol);
      this.out.request(sym, now);
    }
    if (dev.pending.length >= this.cfg.maxPendingPerDevice) this.evict(dev.pending[0]!);
    if (this.pendingTotal >= this.cfg.maxPendingTotal) this.evictOldestPending();
    const p = this.free.pop() ?? new PendingRequest();
    p.state = PENDING;
    p.charged = sym;
    p.httpAt = Number.NaN;
    p.dev = dev;
    p.name = symbol ?? null;
    p.t = now;
    p.inPendingQueue = true;
    p.inTimedOutQueue = false;
    dev.pending.push(p);
    this.pendingQueue.push(p);
    this.pendingTotal++;
  }

  reply(r: ReplyFacts, now: number): void {
    const dev = this.device(r.device, false);
    if (dev === undefined) {
      this.out.unmatched(r.replyType);
      return;
    }
    this.expireDevice(dev, now);
    const pick = pickRule(r);
    const symbol = r.isPage ? undefined : r.symbol;

    const bootPending = !Number.isNaN(dev.bootAt);
    if (bootPending) {
      this.out.bootToConfig((now - dev.bootAt) / 1000);
      if (!Number.isNaN(dev.bootedAt)) this.out.hop('device_booted_to_reply', (now - dev.bootedAt) / 1000);
      dev.bootAt = Number.NaN;
      dev.bootedAt = Number.NaN;
    }

    const i = choose(dev.pending, pick, symbol);
    if (i >= 0) {
      const p = dev.pending[i]!;
      removeAt(dev.pending, i);
      p.state = CLOSED;
      this.pendingTotal--;
      this.answer(p, r, now);
      return;
    }

    const j = choose(dev.timedOut, pick, symbol, now - this.cfg.requestTimeoutMs - this.cfg.lateWindowMs);
    if (j >= 0) {
      const p = dev.timedOut[j]!;
      removeAt(dev.timedOut, j);
      p.state = CLOSED;
      this.out.late(p.charged!, now);
      record(dev, p, 'late', (now - p.t) / 1000, r.replyType);
      if (p.name === null && r.replyClass === ReplyClass.Quote) dev.shown = this.replySymbol(r);
      return;
    }

    if (bootPending) {
      if (r.replyClass === ReplyClass.Quote) dev.shown = this.replySymbol(r);
      return;
    }
    this.out.unmatched(r.replyType);
  }

  boot(device: string, now: number): void {
    const dev = this.device(device, true)!;
    // The firmware re-sends the boot message every 10 s until answered: time from the first.
    if (Number.isNaN(dev.bootAt)) {
      dev.bootAt = now;
      dev.bootedAt = Number.NaN;
    }
  }

  deviceBooted(device: string, now: number): void {
    const dev = this.devices.get(device);
    if (dev === undefined || Number.isNaN(dev.bootAt) || !Number.isNaN(dev.bootedAt)) return;
    dev.bootedAt = now;
    this.out.hop('boot_to_device_booted', (now - dev.bootAt) / 1000);
  }

  httpStream(device: string, symbol: string | undefined, now: number): void {
    const dev = this.devices.get(device);
    if (dev === undefined) return;
    this.expireDevice(dev, now);
    for (let pass = 0; pass < 2; pass++) {
      for (const p of dev.pending) {
        if (!Number.isNaN(p.httpAt)) continue;
        if (pass === 0 ? p.name !== null && p.name === symbol : p.name === null) {
          p.httpAt = now;
          this.out.hop('request_to_http_stream', (now - p.t) / 1000);
          return;
        }
      }
    }
  }

  /** Times out what is due and forgets timed-out requests past their late window. */
  sweep(now: number): void {
    const deadline = now - this.cfg.requestTimeoutMs;
    for (let p = this.pendingQueue.peek(); p !== undefined && p.t <= deadline; p = this.pendingQueue.peek()) {
      this.pendingQueue.shift();
      p.inPendingQueue = false;
      if (p.state === PENDING) {
        const list = p.dev.pending;
        removeAt(list, list.indexOf(p));
        this.timeOut(p);
      } else {
        this.release(p);
      }
    }
    const forget = deadline - this.cfg.lateWindowMs;
    for (let p = this.timedOutQueue.peek(); p !== undefined && p.t <= forget; p = this.timedOutQueue.peek()) {
      this.timedOutQueue.shift();
      p.inTimedOutQueue = false;
      if (p.state === TIMED_OUT) {
        const list = p.dev.timedOut;
        removeAt(list, list.indexOf(p));
        p.state = CLOSED;
      }
      this.release(p);
    }
  }

  /**
   * What the API shows of each device (its shown symbol and latest outcomes), its pending
   * requests and those timed out but still in their late window, and a boot in progress, for a
   * state snapshot. Times stay in the exporter's monotonic frame.
   */
  *stateRecords(): Generator<readonly [string, unknown]> {
    for (const dev of this.devices.values()) {
      const recent = dev.store.list(dev.slot);
      if (
        recent.length === 0 &&
        dev.pending.length === 0 &&
        dev.timedOut.length === 0 &&
        dev.shown === null &&
        Number.isNaN(dev.bootAt)
      )
        continue;
      yield [
        'correlation',
        {
          device: dev.id,
          shown: dev.shown?.name ?? null,
          recent: recent.map((r) => [
            r.requestedAt,
            r.symbol,
            r.outcome,
            Number.isNaN(r.latencySeconds) ? null : r.latencySeconds,
            r.replyType,
          ]),
          pending: dev.pending.map((p) => p.name),
          // What an exact replay needs to go on where the snapshot stopped (restoreRecord's `exact`).
          open: dev.pending.map((p) => [
            p.name,
            p.t,
            Number.isNaN(p.httpAt) ? null : p.httpAt,
            p.charged?.name ?? null,
          ]),
          timedOut: dev.timedOut.map((p) => [p.name, p.t, p.charged?.name ?? null]),
          boot: Number.isNaN(dev.bootAt)
            ? null
            : [dev.bootAt, Number.isNaN(dev.bootedAt) ? null : dev.bootedAt],
        },
      ];
    }
  }

  /**
   * Takes back one record of `stateRecords`. A request that was pending when the snapshot was
   * taken has an outcome nobody saw: it is counted again, as a request and as interrupted, so
   * that every symbol's outcomes still add up to its requests (docs/correlation.md). With
   * `exact`, the source replays every message after the snapshot and the counters were restored
   * too: pending and timed-out requests and boots come back as they were, to meet their replies
   * in the replay; call `finishRestore` after the last record.
   */
  restoreRecord(value: unknown, now: number, exact = false): void {
    const v = value as {
      device?: unknown;
      shown?: unknown;
      recent?: unknown;
      pending?: unknown;
      open?: unknown;
      timedOut?: unknown;
      boot?: unknown;
    };
    if (typeof v?.device !== 'string' || !Array.isArray(v.recent) || !Array.isArray(v.pending)) {
      throw new TypeError('correlation: expected a device, its recent outcomes and its pending requests');
    }
    const dev = this.device(v.device, true)!;
    if (typeof v.shown === 'string') dev.shown = this.out.symbol(v.shown);
    for (const r of v.recent as unknown[][]) {
      const outcome = r[2] as OutcomeKind;
      if (!OUTCOME_CODES.has(outcome)) throw new TypeError(`correlation: unknown outcome ${String(outcome)}`);
      dev.store.record(
        dev.slot,
        Number(r[0]),
        String(r[1]),
        outcome,
        r[3] === null ? Number.NaN : Number(r[3]),
        String(r[4]),
      );
    }
    if (exact) {
      if (!Array.isArray(v.open) || !Array.isArray(v.timedOut))
        throw new TypeError('correlation: expected the open and timed-out requests of an exact snapshot');
      for (const [name, t, httpAt, charged] of v.open as [
        string | null,
        number,
        number | null,
        string | null,
      ][]) {
        const p = this.restoredRequest(dev, name, t, charged);
        p.httpAt = httpAt === null ? Number.NaN : Number(httpAt);
        p.inPendingQueue = true;
        dev.pending.push(p);
        this.pendingTotal++;
        this.restoredPending.push(p);
      }
      for (const [name, t, charged] of v.timedOut as [string | null, number, string | null][]) {
        const p = this.restoredRequest(dev, name, t, charged);
        p.state = TIMED_OUT;
        p.inTimedOutQueue = true;
        dev.timedOut.push(p);
        this.restoredTimedOut.push(p);
      }
      if (Array.isArray(v.boot)) {
        dev.bootAt = Number(v.boot[0]);
        dev.bootedAt = v.boot[1] === null ? Number.NaN : Number(v.boot[1]);
      }
      return;
    }
    for (const name of v.pending as (string | null)[]) {
      const sym = typeof name === 'string' ? this.out.symbol(name) : this.shownOrUnknown(dev);
      this.out.request(sym, now);
      this.out.interrupted(sym, now);
      dev.store.record(dev.slot, now, sym.name, 'interrupted', Number.NaN, '');
    }
  }

  /** After an exact restore: the restored requests join the sweep's queues, oldest first. */
  finishRestore(): void {
    const byTime = (a: PendingRequest, b: PendingRequest) => a.t - b.t;
    for (const p of this.restoredPending.sort(byTime)) this.pendingQueue.push(p);
    for (const p of this.restoredTimedOut.sort(byTime)) this.timedOutQueue.push(p);
    this.restoredPending = [];
    this.restoredTimedOut = [];
  }

  private restoredRequest(
    dev: DeviceCorrelation,
    name: string | null,
    t: number,
    charged: string | null,
  ): PendingRequest {
    if (typeof t !== 'number' || !Number.isFinite(t))
      throw new TypeError('correlation: a request without its time');
    const p = new PendingRequest();
    p.state = PENDING;
    p.dev = dev;
    p.name = typeof name === 'string' ? name : null;
    p.t = t;
    p.charged = typeof charged === 'string' ? this.out.symbol(charged) : null;
    return p;
  }

  /**
   * The broker connection dropped: replies to what is pending can no longer be seen, so those
   * requests are counted as interrupted, not as timeouts. Boots in progress lose their start too.
   */
  interruptAll(now: number): void {
    for (let p = this.pendingQueue.shift(); p !== undefined; p = this.pendingQueue.shift()) {
      p.inPendingQueue = false;
      if (p.state === PENDING) {
        p.state = CLOSED;
        const sym = this.charge(p, now);
        this.out.interrupted(sym, now);
        record(p.dev, p, 'interrupted', Number.NaN, '');
      }
      this.release(p);
    }
    this.pendingTotal = 0;
    for (const dev of this.devices.values()) {
      dev.pending.length = 0;
      dev.bootAt = Number.NaN;
      dev.bootedAt = Number.NaN;
    }
  }

  private answer(p: PendingRequest, r: ReplyFacts, now: number): void {
    const dev = p.dev;
    let sym = p.charged;
    if (sym === null) {
      if (r.replyClass === ReplyClass.Quote) {
        sym = this.replySymbol(r);
        dev.shown = sym;
      } else {
        sym = r.symbol !== undefined ? this.out.symbol(r.symbol) : this.shownOrUnknown(dev);
      }
      p.charged = sym;
      this.out.request(sym, now);
    }
    if (!Number.isNaN(p.httpAt)) this.out.hop('http_stream_to_reply', (now - p.httpAt) / 1000);
    const latency = (now - p.t) / 1000;
    switch (r.replyClass) {
      case ReplyClass.Quote:
        this.out.response(sym, latency, now);
        record(dev, p, 'response', latency, r.replyType);
        break;
      case ReplyClass.Error:
        this.out.error(sym, r.replyType, now);
        record(dev, p, 'error', latency, r.replyType);
        break;
      default:
        this.out.nonQuote(sym, r.replyType, now);
        record(dev, p, 'non_quote', latency, r.replyType);
    }
  }

  private replySymbol(r: ReplyFacts): SymbolRef {
    return r.isPage ? this.out.pageSymbol : this.out.symbol(r.symbol!);
  }

  /** Resolves a symbol-less request's symbol at its outcome and counts the request then. */
  private charge(p: PendingRequest, now: number): SymbolRef {
    if (p.charged === null) {
      p.charged = this.shownOrUnknown(p.dev);
      this.out.request(p.charged, now);
    }
    return p.charged;
  }

  /** The symbol a device shows; one the stats forgot after a long idle time is looked up anew. */
  private shownOrUnknown(dev: DeviceCorrelation): SymbolRef {
    const shown = dev.shown;
    if (shown === null) return this.out.unknownSymbol;
    if (shown.retired === true) dev.shown = this.out.symbol(shown.name);
    return dev.shown!;
  }

  private timeOut(p: PendingRequest): void {
    const at = p.t + this.cfg.requestTimeoutMs;
    this.pendingTotal--;
    const sym = this.charge(p, at);
    this.out.timeout(sym, at);
    record(p.dev, p, 'timeout', Number.NaN, '');
    p.state = TIMED_OUT;
    const list = p.dev.timedOut;
    if (list.length >= this.cfg.maxPendingPerDevice) {
      list.shift()!.state = CLOSED;
      this.out.eviction('timed_out_request');
    }
    list.push(p);
    this.timedOutQueue.push(p);
    p.inTimedOutQueue = true;
  }

  /** Times out a device's due requests before a reply is paired, whatever the sweep's phase. */
  private expireDevice(dev: DeviceCorrelation, now: number): void {
    const deadline = now - this.cfg.requestTimeoutMs;
    while (dev.pending.length > 0 && dev.pending[0]!.t <= deadline) this.timeOut(dev.pending.shift()!);
  }

  private evict(p: PendingRequest): void {
    const list = p.dev.pending;
    removeAt(list, list.indexOf(p));
    p.state = CLOSED;
    this.pendingTotal--;
    this.out.eviction('pending_request');
  }

  private evictOldestPending(): void {
    for (let p = this.pendingQueue.shift(); p !== undefined; p = this.pendingQueue.shift()) {
      p.inPendingQueue = false;
      if (p.state === PENDING) {
        this.evict(p);
        this.release(p);
        return;
      }
      this.release(p);
    }
  }

  /** Back to the pool once closed and out of both queues; only then can nothing refer to it. */
  private release(p: PendingRequest): void {
    if (p.state !== CLOSED || p.inPendingQueue || p.inTimedOutQueue || this.free.length >= POOL_MAX) return;
    this.free.push(p);
  }

  private device(id: string, create: boolean): DeviceCorrelation | undefined {
    let dev = this.devices.get(id);
    if (dev === undefined && create) {
      if (this.devices.size >= this.cfg.maxDevices) this.evictDevice();
      dev = new DeviceCorrelation(id, this.recent, this.recent.alloc());
      this.devices.set(id, dev);
    }
    return dev;
  }

  /**
   * Drops the longest-known devices, 1 % of the limit at a time; under a flood of new ids the
   * flood's own oldest go first. One pass frees many: a Map keeps the slots of deleted entries until
   * it is rehashed, so finding its first live entry after each single deletion walks past every
   * earlier one, and a flood of new ids past the limit ran at a tenth of its usual rate.
   */
  private evictDevice(): void {
    let left = Math.max(1, Math.floor(this.cfg.maxDevices / 100));
    for (const [id, dev] of this.devices) {
      for (const p of dev.pending) {
        p.state = CLOSED;
        this.pendingTotal--;
        this.out.eviction('pending_request');
      }
      for (const p of dev.timedOut) p.state = CLOSED;
      this.devices.delete(id);
      this.recent.release(dev.slot);
      this.out.eviction('device_correlation');
      if (--left === 0) break;
    }
  }
}

/**
 * `list.splice(start, 1)` without the array of removed elements splice builds on every call; a negative
 * start counts from the end, as with splice.
 */
function removeAt<T>(list: T[], start: number): void {
  const len = list.length;
  const i = start < 0 ? Math.max(len + start, 0) : start;
  if (i >= len) return;
  for (let k = i; k < len - 1; k++) list[k] = list[k + 1]!;
  list.length = len - 1;
}

function record(
  dev: DeviceCorrelation,
  p: PendingRequest,
  outcome: OutcomeKind,
  latencySeconds: number,
  replyType: string,
): void {
  dev.store.record(dev.slot, p.t, p.charged?.name ?? 'unknown', outcome, latencySeconds, replyType);
}

function pickRule(r: ReplyFacts): Pick {
  if (r.isPage) return Pick.SymbollessThenAny;
  if (r.replyClass === ReplyClass.Quote) {
    return r.isNew ? Pick.SymbollessThenSymbol : Pick.SymbolThenSymbolless;
  }
  return r.symbol !== undefined ? Pick.SymbolThenSymbollessThenAny : Pick.Any;
}

/**
 * Index of the request a reply pairs with, oldest first within each preference; -1 if none.
 * `notBefore` excludes timed-out requests whose late window has closed.
 */
function choose(
  list: PendingRequest[],
  pick: Pick,
  symbol: string | undefined,
  notBefore = -Infinity,
): number {
  let bySymbol = -1;
  let symbolless = -1;
  let any = -1;
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if (p.t <= notBefore) continue;
    if (any < 0) any = i;
    if (p.name === null) {
      if (symbolless < 0) symbolless = i;
    } else if (bySymbol < 0 && p.name === symbol) {
      bySymbol = i;
    }
  }
  switch (pick) {
    case Pick.SymbolThenSymbolless:
      return bySymbol >= 0 ? bySymbol : symbolless;
    case Pick.SymbollessThenSymbol:
      return symbolless >= 0 ? symbolless : bySymbol;
    case Pick.SymbollessThenAny:
      return symbolless >= 0 ? symbolless : any;
    case Pick.SymbolThenSymbollessThenAny:
      return bySymbol >= 0 ? bySymbol : symbolless >= 0 ? symbolless : any;
    default:
      return any;
  }
}
