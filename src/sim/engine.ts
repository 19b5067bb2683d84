import type { Logger } from '../log.js';
import {
  alertPayload,
  bootPayload,
  deviceRegPayload,
  firmwareUpdatePayload,
  httpStreamPayload,
  INVALID_FORMAT_PAYLOAD,
  jsonString,
  NO_CONFIG_PAYLOAD,
  pageErrorPayload,
  pagePayload,
  quoteDate,
  quoteHead,
  requestPayload,
  stockErrorPayload,
  symbolRequestPayload,
} from './payloads.js';
import type { DeviceSpec } from './profile.js';
import { deriveSeed, hash32, Rng } from './rng.js';
import type { FaultPlan } from './scenario.js';
import { Scheduler } from './scheduler.js';
import { isHttpStream, marketOf, streamOf } from './streams.js';
import { type ReplyInfo, type Truth, TruthLedger, UPTIME_WRAP_FLOOR_S } from './truth.js';

export interface EngineOptions {
  fleet: DeviceSpec[];
  speed: number;
  seed: number;
  timeoutMs: number;
  lateWindowMs: number;
  /** Minimum distance between a reply and any time at which the exporter's verdict would flip. */
  marginMs: number;
  /** Devices ask until then (ms from the start; Infinity for no bound); the run then drains. */
  askUntil: number;
  maxMessages: number;
  faults: FaultPlan;
  connections: number;
  publish: (conn: number, topic: string, payload: string) => void;
  /** Milliseconds since the run's start. */
  clock: () => number;
  /** Wall-clock time of the run's start, for the dates in quotes. */
  wallStartMs: number;
  logger: Logger;
  onEnd?: () => void;
}

/** Median latency and log-normal spread of each stream, in ms. */
const STREAM_LATENCY: Record<string, [number, number]> = {
  polygon: [120, 0.45],
  tradingview: [250, 0.5],
  finage: [180, 0.5],
  fxon: [300, 0.5],
  coingecko: [400, 0.55],
  'commodities-api': [650, 0.4],
  electricity: [500, 0.4],
  'custom-api': [900, 0.6],
};

/** Real-time constants of the device and backend (not compressed by speed). */
const PLAYLIST_SPACING_MS = 300;
const BOOT_RESEND_MS = 10_000;
/** Reboots of one device stay further apart than the exporter's 120 s boot-message window. */
const REBOOT_SPACING_MS = 180_000;
/** The backend misses this share of boot messages; the device then re-sends after 10 s. */
const BOOT_MISS_SHARE = 0.08;
/** Share of reboots whose boot message is lost: only the uptime drop shows them. */
const SILENT_REBOOT_SHARE = 0.2;
/** Share of single-ticker and page replies the backend sends twice (the copy is unmatched). */
const DUPLICATE_SHARE = 0.002;

/** Device-time constants, divided by speed. */
const HEARTBEAT_MIN_MS = 30_000;
const HEARTBEAT_IDLE_MS = 30_000;
const REBOOT_MEAN_MS = 12 * 3_600_000;

const ALERT_SHARE = 0.002;
const FIRMWARE_UPDATE_SHARE = 0.0005;

/** Event codes: kind in the low 4 bits, an index above. */
const E_WAKE = 1;
const E_REQ = 2;
const E_HOP = 3;
const E_REPLY = 4;
const E_BOOT = 5;
const E_ECHO = 6;
const E_BOOT_REPLY = 7;
const E_BOOT_RETRY = 8;
const E_SILENT_HB = 9;
const E_END = 10;
const E_DRAIN = 11;

/** Reply kinds. */
const K_UPDATE = 0;
const K_NEW = 1;
const K_PAGE = 2;
const K_PAGE_ERROR = 3;
const K_STOCK_ERROR = 4;
const K_INVALID = 5;
const K_NO_CONFIG = 6;
const K_DEVICE_REG = 7;

const KIND_SINGLE = 0;
const KIND_PLAYLIST = 1;
const KIND_PAGE = 2;
const KIND_NOCONFIG = 3;
const KIND_UNREGISTERED = 4;

const TWO_POW_32 = 4_294_967_296;

interface SymbolInfo {
  name: string;
  json: string;
  stream: string;
  http: boolean;
  market: string;
  medianMs: number;
  sigma: number;
  open: number;
  price: number;
}

class Device {
  readonly id: string;
  readonly kind: number;
  readonly syms: SymbolInfo[];
  /** Tail of quote replies after `"name":…`, for single-ticker devices. */
  readonly singleTail: string;
  /** Parts of the playlist tail around `symbolIndex`. */
  readonly playlistTailA: string;
  readonly playlistTailB: string;
  readonly currencyEsc: string;
  readonly heartbeatHead: string;
  readonly updateMs: number;
  readonly cycleMs: number;
  readonly phase: number;
  bootAt: number;
  booting = false;
  bootAnswered = true;
  lastRebootAt = Number.NEGATIVE_INFINITY;
  lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  lastHeartbeatUptime = -1;
  heartbeatsThisBoot = 0;
  battery: number;
  vin: number;
  wflct = 0;
  energyAt = 0;
  lastCycleAt = 0;
  nextCycleAt = 0;
  pageRev = 1;
  // The current cycle's plan.
  nReq = 0;
  readonly reqAt: number[] = [];
  /** The symbol the request names; null for the symbol-less request. */
  readonly reqSym: Array<SymbolInfo | null> = [];
  /** The symbol the backend answers the request with; null for page and unconfigured devices. */
  readonly quoteSym: Array<SymbolInfo | null> = [];
  nRep = 0;
  readonly repAt: number[] = [];
  readonly repReq: number[] = [];
  readonly repKind: number[] = [];
  current = 0;

  constructor(
    readonly idx: number,
    readonly spec: DeviceSpec,
    readonly conn: number,
    syms: SymbolInfo[],
    speed: number,
  ) {
    this.id = spec.id;
    this.kind =
      spec.kind === 'single'
        ? KIND_SINGLE
        : spec.kind === 'playlist'
          ? KIND_PLAYLIST
          : spec.kind === 'page'
            ? KIND_PAGE
            : spec.kind === 'noconfig'
              ? KIND_NOCONFIG
              : KIND_UNREGISTERED;
    this.syms = syms;
    this.currencyEsc = jsonString(spec.currency).slice(1, -1);
    const common = `,"ledBrightness":${spec.ledBrightness},"alertEnabled":${spec.alertEnabled}}`;
    this.singleTail = `,"interval":${spec.updateIntervalS}${common}`;
    const csv = jsonString(syms.map((s) => s.name).join(','));
    this.playlistTailA = `,"isPlaylist":true,"symbols":${csv},"symbolIndex":`;
    this.playlistTailB = `,"cycleInterval":${spec.cycleIntervalS},"updateInterval":${spec.updateIntervalS}${common}`;
    this.heartbeatHead = `{"status":"online","firmware_version":${jsonString(spec.firmware)},"device":"${spec.id}","battery":"`;
    this.updateMs = (spec.updateIntervalS * 1000) / speed;
    this.cycleMs = Math.max(1, (spec.cycleIntervalS * 1000) / speed);
    this.phase = hash32(spec.id) % 1_000_000;
    this.bootAt = -spec.uptimeS * 1000;
    this.battery = spec.battery;
    this.vin = spec.vin;
  }
}

const PAGE_QUOTE: ReplyInfo = { cls: 'quote', type: 'PAGE', symbol: '_page', isNew: false, page: true };
const PAGE_BOOT: ReplyInfo = { cls: 'quote', type: 'NEW', symbol: '_page', isNew: true, page: true };
const PAGE_ERROR: ReplyInfo = {
  cls: 'error',
  type: 'PAGE_ERROR',
  symbol: undefined,
  isNew: false,
  page: true,
};
const INVALID: ReplyInfo = {
  cls: 'error',
  type: 'INVALID_FORMAT',
  symbol: undefined,
  isNew: false,
  page: false,
};
const NO_CONFIG: ReplyInfo = {
  cls: 'nonquote',
  type: 'NO_CONFIG',
  symbol: undefined,
  isNew: false,
  page: false,
};
const DEVICE_REG: ReplyInfo = {
  cls: 'nonquote',
  type: 'DEVICE_REG',
  symbol: undefined,
  isNew: false,
  page: false,
};

/**
 * The fleet and its quote backend, as one event-driven model. Devices follow the protocol's
 * timing; the backend answers through the same publisher, so that a broker relays each request
 * before its reply. Every message is also counted by a `TruthLedger` at the moment it leaves.
 *
 * The truth is unambiguous because no reply ever lands within `marginMs` of a moment at which one
 * of its device's requests times out or leaves the late window, a device starts a cycle only once
 * the previous one has settled, and reboots happen only between settled cycles.
 */
export class FleetEngine {
  readonly ledger: TruthLedger;
  readonly scheduler: Scheduler;
  readonly devices: Device[];
  private readonly rng: Rng;
  private readonly o: EngineOptions;
  private readonly T: number;
  private readonly L: number;
  private readonly m: number;
  private readonly stopAskingAt: number;
  /**
   * Real time between heartbeats of a device between cycles. Speed compresses it, but never below
   * the shortest cycle period: cycles cannot run faster than the device's 10 s wait, and
   * heartbeats compressed further would swamp the traffic.
   */
  private readonly heartbeatIdleMs: number;
  private readonly draw: () => number;
  private readonly symbolInfo = new Map<string, SymbolInfo>();
  private draining = false;
  private quietAt = 0;
  private endAt = Number.POSITIVE_INFINITY;
  private dateSecond = -1;
  private dateText = '';
  private endedFlag = false;
  /** Replies moved out of a window around a verdict-flipping moment, for the log. */
  nudged = 0;
  /** Requests of the cycle being planned that the backend hands to an HTTP-polled service. */
  private readonly hops: number[] = [];

  constructor(opts: EngineOptions) {
    this.o = opts;
    this.T = opts.timeoutMs;
    this.L = opts.lateWindowMs;
    this.m = opts.marginMs;
    this.stopAskingAt = opts.askUntil;
    this.heartbeatIdleMs = Math.max(HEARTBEAT_IDLE_MS / opts.speed, this.T + this.m);
    this.ledger = new TruthLedger(opts.timeoutMs, opts.lateWindowMs);
    this.rng = new Rng(deriveSeed(opts.seed, 'behaviour'));
    this.draw = () => this.rng.float();
    this.scheduler = new Scheduler(opts.clock, this.handle);
    this.devices = opts.fleet.map(
      (spec, i) =>
        new Device(
          i,
          spec,
          i % opts.connections,
          spec.symbols.map((s) => this.symbol(s)),
          opts.speed,
        ),
    );
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Plans the first event of every device and of the run's end. */
  prime(): void {
    const rng = this.rng;
    for (const d of this.devices) {
      if (d.spec.bootsAtStart) {
        d.bootAt = rng.between(0, 6000);
        d.booting = true;
        d.bootAnswered = false;
        this.scheduler.at(d.bootAt + rng.between(1000, 3000), d.idx, E_BOOT | (1 << 4));
      } else {
        d.bootAt -= rng.between(0, 1000);
        // Spread first cycles over the period devices will really keep, which the timeout bounds
        // from below, so that the fleet does not start in lockstep.
        const period = Math.max(d.updateMs, this.T + this.m + PLAYLIST_SPACING_MS * d.syms.length);
        d.nextCycleAt = rng.between(0, period);
        d.lastCycleAt = d.nextCycleAt - d.updateMs;
        const firstHeartbeat = rng.between(0, this.heartbeatIdleMs);
        this.scheduler.at(Math.min(d.nextCycleAt, firstHeartbeat), d.idx, E_WAKE);
      }
    }
    if (Number.isFinite(this.stopAskingAt)) this.scheduler.at(this.stopAskingAt, -1, E_DRAIN);
  }

  start(): void {
    this.prime();
    this.scheduler.start();
  }

  /** Runs in simulated time, every event at its planned time, until the end or `untilMs`. */
  runVirtual(untilMs: number): void {
    this.scheduler.runVirtual(untilMs);
  }

  /**
   * No new cycles or boots from now on; the run ends once everything already asked has its
   * outcome (timeout + late window + margin after the last request, or later when a fault delays
   * a reply beyond that). With `immediate`, it ends now: what is still pending will time out at
   * the exporter, and the truth counts it so.
   */
  requestStop(immediate: boolean): void {
    if (this.endedFlag) return;
    if (immediate) {
      this.finish();
      return;
    }
    this.startDrain();
  }

  truth(): Truth {
    return this.ledger.finalize();
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.endAt = Math.max(this.scheduler.now, this.quietAt) + 1;
    this.scheduler.at(this.endAt, -1, E_END);
  }

  private finish(): void {
    if (this.endedFlag) return;
    this.endedFlag = true;
    this.scheduler.stop();
    this.scheduler.virtualHalt = true;
    this.o.onEnd?.();
  }

  private symbol(name: string): SymbolInfo {
    let s = this.symbolInfo.get(name);
    if (s) return s;
    const stream = streamOf(name);
    const [median, sigma] = STREAM_LATENCY[stream] ?? [200, 0.5];
    const traits = new Rng(deriveSeed(this.o.seed, `symbol:${name}`));
    const price = Math.exp(traits.normal() * 1.6 + 3.5);
    s = {
      name,
      json: jsonString(name),
      stream,
      http: isHttpStream(stream),
      market: marketOf(stream, name),
      medianMs: median * Math.exp(0.35 * traits.normal()),
      sigma,
      open: price,
      price,
    };
    this.symbolInfo.set(name, s);
    return s;
  }

  private out(conn: number, topic: string, payload: string): void {
    this.o.publish(conn, topic, payload);
    if (++this.ledger.messages >= this.o.maxMessages && !this.draining) this.startDrain();
  }

  private asking(t: number): boolean {
    return !this.draining && t < this.stopAskingAt;
  }

  private readonly handle = (time: number, idx: number, code: number): void => {
    if (idx < 0) {
      if (code === E_DRAIN) this.startDrain();
      else if (code === E_END && time >= this.endAt) this.finish();
      return;
    }
    const d = this.devices[idx]!;
    const arg = code >> 4;
    switch (code & 15) {
      case E_WAKE:
        this.wake(d, time);
        break;
      case E_REQ:
        this.sendRequest(d, arg);
        break;
      case E_HOP:
        this.sendHop(d, arg);
        break;
      case E_REPLY:
        this.sendReply(d, arg);
        break;
      case E_BOOT:
        this.sendBoot(d, time, arg === 1);
        break;
      case E_ECHO:
        this.out(d.conn, 'DEVICE_BOOTED', bootPayload(d.id));
        break;
      case E_BOOT_REPLY:
        this.sendBootReply(d, time);
        break;
      case E_BOOT_RETRY:
        if (d.booting && !d.bootAnswered && this.asking(time)) this.sendBoot(d, time, false);
        break;
      case E_SILENT_HB:
        this.heartbeat(d, time);
        this.planWake(d, time, time + this.rng.between(500, 2000));
        break;
    }
  };

  // ---- devices -------------------------------------------------------------------------------

  private planWake(d: Device, now: number, nextCycleAt: number): void {
    d.nextCycleAt = nextCycleAt;
    const next = Math.min(nextCycleAt, now + this.heartbeatIdleMs);
    if (next <= this.endAt) this.scheduler.at(next, d.idx, E_WAKE);
  }

  private wake(d: Device, t: number): void {
    const speed = this.o.speed;
    if (t + 0.5 < d.nextCycleAt) {
      if (t - d.lastHeartbeatAt >= HEARTBEAT_MIN_MS / speed) this.heartbeat(d, t);
      this.planWake(d, t, d.nextCycleAt);
      return;
    }
    const asking = this.asking(t);
    if (asking && this.mayReboot(d, t)) {
      this.reboot(d, t);
      return;
    }
    if (t - d.lastHeartbeatAt >= HEARTBEAT_MIN_MS / speed) this.heartbeat(d, t);
    if (asking && d.kind !== KIND_NOCONFIG && d.kind !== KIND_UNREGISTERED) this.backendExtras(d, t);
    d.lastCycleAt = t;
    if (asking) {
      const settle = this.planCycle(d, t);
      this.planWake(d, t, Math.max(t + d.updateMs + this.rng.between(0, 20), settle));
      return;
    }
    this.planWake(d, t, t + Math.max(d.updateMs, HEARTBEAT_MIN_MS / speed));
  }

  private mayReboot(d: Device, t: number): boolean {
    if (t - d.lastRebootAt < REBOOT_SPACING_MS || d.heartbeatsThisBoot === 0) return false;
    const deviceMs = (t - d.lastCycleAt) * this.o.speed;
    return this.rng.chance(Math.min(0.5, deviceMs / REBOOT_MEAN_MS));
  }

  private reboot(d: Device, t: number): void {
    const rng = this.rng;
    const b = t + rng.between(0, 1500);
    const silent =
      d.lastHeartbeatUptime >= 30 &&
      d.lastHeartbeatUptime < UPTIME_WRAP_FLOOR_S &&
      rng.chance(SILENT_REBOOT_SHARE);
    d.bootAt = b;
    d.lastRebootAt = b;
    d.wflct = 0;
    d.heartbeatsThisBoot = 0;
    d.lastHeartbeatAt = Number.NEGATIVE_INFINITY;
    if (silent) {
      this.scheduler.at(b + rng.between(2000, 4000), d.idx, E_SILENT_HB);
    } else {
      d.booting = true;
      d.bootAnswered = false;
      this.scheduler.at(b + rng.between(1000, 3000), d.idx, E_BOOT | (1 << 4));
    }
  }

  private heartbeat(d: Device, t: number): void {
    const now = this.scheduler.now;
    const f = d.spec.fields;
    const rng = this.rng;
    const hours = ((t - d.energyAt) * this.o.speed) / 3_600_000;
    d.energyAt = t;
    if (d.vin > 2500) d.battery = Math.min(100, d.battery + 20 * hours);
    else d.battery = Math.max(0, d.battery - 1.5 * hours);
    d.vin = Math.max(0, Math.min(4095, d.vin + Math.round(rng.between(-15, 15))));
    if (rng.chance(0.01)) d.wflct++;
    let ms = now - d.bootAt;
    if (ms >= TWO_POW_32) ms %= TWO_POW_32;
    const uptime = Math.floor(ms / 1000);
    const charging = d.vin > 2500 && d.battery < 100 ? '1' : '0';
    let s = `${d.heartbeatHead}${Math.round(d.battery)}"`;
    if (f.vin) s += `,"vin":"${d.vin}"`;
    s += `,"uptime":"${uptime}","isCharging":"${charging}"`;
    if (f.wflct) s += `,"wflct":"${d.wflct}"`;
    if (f.iv) s += `,"iv":"${d.spec.iv}"`;
    if (f.xmc) s += `,"xmc":"${d.spec.xmc}"`;
    if (f.flashID) s += `,"flashID":"${d.spec.flashId}"`;
    this.out(d.conn, 'DEVICESTATUS_RES', `${s}}`);
    this.ledger.heartbeat(now, d.id, uptime);
    d.lastHeartbeatAt = t;
    d.lastHeartbeatUptime = uptime;
    d.heartbeatsThisBoot++;
  }

  private sendBoot(d: Device, t: number, first: boolean): void {
    if (first && !this.asking(t)) {
      d.booting = false;
      return;
    }
    const rng = this.rng;
    const now = this.scheduler.now;
    this.out(d.conn, 'TICKRMETERBOOT', bootPayload(d.id));
    this.ledger.boot(now, d.id);
    if (first) {
      const text = `TickrMeter ${d.spec.firmware} ${d.id} booted: reset reason ${1 + rng.below(9)}, free heap ${150_000 + rng.below(40_000)}, rssi -${40 + rng.below(50)}`;
      this.out(d.conn, `LOG/${d.id}`, text);
    }
    this.scheduler.at(t + BOOT_RESEND_MS, d.idx, E_BOOT_RETRY);
    const faults = this.o.faults;
    if (faults.inOutage(t)) return;
    const echoAt = t + rng.between(5, 40);
    if (!faults.inOutage(echoAt)) this.scheduler.at(echoAt, d.idx, E_ECHO);
    if (rng.chance(BOOT_MISS_SHARE)) return;
    const replyAt = t + Math.min(8000, Math.max(50, rng.lognormal(500, 0.5)));
    if (faults.inOutage(replyAt)) return;
    this.scheduler.at(Math.max(replyAt, echoAt + 1), d.idx, E_BOOT_REPLY);
    this.quietAt = Math.max(this.quietAt, replyAt + 2);
  }

  private sendBootReply(d: Device, t: number): void {
    if (d.bootAnswered) return;
    const now = this.scheduler.now;
    let payload: string;
    let info: ReplyInfo;
    switch (d.kind) {
      case KIND_SINGLE: {
        const s = d.syms[0]!;
        payload = this.quote('NEW', d, s) + d.singleTail;
        info = { cls: 'quote', type: 'NEW', symbol: s.name, isNew: true, page: false };
        break;
      }
      case KIND_PLAYLIST: {
        const cur = this.currentIndex(d, t);
        const s = d.syms[cur]!;
        payload = `${this.quote('NEW', d, s)}${d.playlistTailA}${cur}${d.playlistTailB}`;
        info = { cls: 'quote', type: 'NEW', symbol: s.name, isNew: true, page: false };
        break;
      }
      case KIND_PAGE:
        payload = pagePayload(d.spec.updateIntervalS, d.pageRev++, 'green', true);
        info = PAGE_BOOT;
        break;
      case KIND_NOCONFIG:
        payload = NO_CONFIG_PAYLOAD;
        info = NO_CONFIG;
        break;
      default:
        payload = deviceRegPayload(this.registrationCode(d));
        info = DEVICE_REG;
    }
    this.out(d.conn, d.id, payload);
    this.ledger.reply(now, d.id, info);
    d.bootAnswered = true;
    d.booting = false;
    d.energyAt = t;
    d.lastCycleAt = t;
    this.planWake(d, t, t + this.rng.between(500, 2000));
  }

  private registrationCode(d: Device): string {
    return String(100_000 + (hash32(d.id) % 900_000));
  }

  private currentIndex(d: Device, t: number): number {
    return Math.floor((t + d.phase) / d.cycleMs) % d.syms.length;
  }

  /** Price alerts and firmware orders: backend traffic that is neither a reply nor a request. */
  private backendExtras(d: Device, t: number): void {
    const rng = this.rng;
    if (this.o.faults.inOutage(t)) return;
    if (rng.chance(ALERT_SHARE) && d.syms.length > 0) {
      const s = d.syms[0]!;
      this.out(d.conn, `ALERT/${d.id}`, alertPayload(rng.chance(0.7), s.json, s.price));
    }
    if (rng.chance(FIRMWARE_UPDATE_SHARE)) {
      this.out(d.conn, `FIRMWAREUPDATE/${d.id}`, firmwareUpdatePayload('70p'));
    }
  }

  // ---- one update cycle ----------------------------------------------------------------------

  /**
   * Plans the requests of a cycle starting at `t0` and the backend's replies to them, and returns
   * the time from which the device may start another.
   */
  private planCycle(d: Device, t0: number): number {
    const rng = this.rng;
    const faults = this.o.faults;
    const T = this.T;
    const L = this.L;
    const m = this.m;

    // Requests: the symbol-less one, then one per playlist symbol.
    let n = 0;
    d.reqAt[n] = t0;
    d.reqSym[n] = null;
    if (d.kind === KIND_PLAYLIST) {
      d.current = this.currentIndex(d, t0);
      d.quoteSym[n] = d.syms[d.current]!;
    } else {
      d.quoteSym[n] = d.kind === KIND_SINGLE ? d.syms[0]! : null;
    }
    n++;
    if (d.kind === KIND_PLAYLIST) {
      for (let k = 0; k < d.syms.length; k++) {
        d.reqAt[n] = t0 + PLAYLIST_SPACING_MS * (k + 1) + rng.between(-15, 15);
        d.reqSym[n] = d.syms[k]!;
        d.quoteSym[n] = d.syms[k]!;
        n++;
      }
    }
    d.nReq = n;
    const lastReq = d.reqAt[n - 1]!;

    // Replies, as the backend decides them at each request's arrival.
    let nRep = 0;
    let answeredAll = true;
    const page = d.kind === KIND_PAGE;
    const unconfigured = d.kind === KIND_NOCONFIG || d.kind === KIND_UNREGISTERED;
    const hops = this.hops;
    hops.length = 0;
    for (let k = 0; k < n; k++) {
      const tk = d.reqAt[k]!;
      if (faults.inOutage(tk)) {
        answeredAll = false;
        continue;
      }
      const sym = d.quoteSym[k]!;
      let kind: number;
      let latency: number;
      if (unconfigured) {
        kind = d.kind === KIND_NOCONFIG ? K_NO_CONFIG : K_DEVICE_REG;
        latency = rng.lognormal(60, 0.3);
      } else {
        const dec = faults.decide(tk, sym ? sym.name : '_page', sym ? sym.stream : 'unmapped', this.draw);
        if (sym?.http) hops.push(k);
        const base = sym ? rng.lognormal(sym.medianMs, sym.sigma) : rng.lognormal(80, 0.3);
        if (dec.drop) {
          answeredAll = false;
          continue;
        }
        latency = dec.latencyMs !== undefined ? rng.lognormal(dec.latencyMs, 0.08) : base;
        if (dec.error !== undefined) {
          if (dec.error === 'INVALID_FORMAT') kind = K_INVALID;
          else if (page) kind = this.ledger.shown(d.id) === '_page' ? K_PAGE_ERROR : K_PAGE;
          else kind = K_STOCK_ERROR;
        } else if (page) {
          kind = K_PAGE;
        } else {
          kind = k === 0 && d.kind === KIND_PLAYLIST ? K_NEW : K_UPDATE;
        }
        if (dec.late && kind <= K_PAGE) {
          if (L <= 2 * m) {
            answeredAll = false;
            continue;
          }
          latency = rng.between(T + m, T + L - m);
        }
      }
      const r = tk + Math.max(1, latency);
      if (faults.inOutage(r)) {
        answeredAll = false;
        continue;
      }
      this.addReply(d, nRep++, r, k, kind);
    }

    // A cycle in which every request gets a quote for its own symbol (or its only request gets any
    // reply) at least a margin before its own timeout has nothing that can time out, and each reply
    // can only pair with its own request: no other moment matters. Any other cycle keeps its replies
    // clear of the timeout and late-window end of all its requests.
    let settled = answeredAll && nRep === n;
    for (let j = 0; settled && j < nRep; j++) {
      const kind = d.repKind[j]!;
      if (d.repAt[j]! - d.reqAt[d.repReq[j]!]! > T - m) settled = false;
      else if (n > 1 && kind !== K_UPDATE && kind !== K_NEW) settled = false;
    }
    if (!settled) {
      let kept = 0;
      for (let j = 0; j < nRep; j++) {
        const tk = d.reqAt[d.repReq[j]!]!;
        const r = this.nudge(d, n, tk, d.repAt[j]!);
        if (faults.inOutage(r)) continue;
        this.addReply(d, kept++, r, d.repReq[j]!, d.repKind[j]!);
      }
      nRep = kept;
    }
    if (n === 1 && nRep === 1 && d.repKind[0]! <= K_PAGE && rng.chance(DUPLICATE_SHARE)) {
      // The copy finds nothing open (its request was answered), whatever its timing.
      let r2 = d.repAt[0]! + rng.between(50, 500);
      if (!settled) r2 = this.nudge(d, n, d.reqAt[0]!, r2);
      if (!faults.inOutage(r2)) this.addReply(d, nRep++, r2, 0, d.repKind[0]!);
    }
    d.nRep = nRep;

    let lastRep = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < nRep; j++) lastRep = Math.max(lastRep, d.repAt[j]!);
    // Settled cycles leave nothing pending; others wait until the last request's late window has
    // closed, so that the next cycle starts with nothing pending or remembered at the exporter.
    const settle = settled ? Math.max(t0 + T + m, lastRep + m) : Math.max(lastReq + T + L + m, lastRep + m);
    this.quietAt = Math.max(this.quietAt, settle);

    this.sendRequest(d, 0);
    for (let k = 1; k < n; k++) this.scheduler.at(d.reqAt[k]!, d.idx, E_REQ | (k << 4));
    for (const k of hops) {
      // The hand-off precedes the answer, if any.
      const tk = d.reqAt[k]!;
      let at = tk + rng.between(5, 25);
      for (let j = 0; j < nRep; j++) {
        if (d.repReq[j] === k) at = Math.min(at, tk + (d.repAt[j]! - tk) / 2);
      }
      this.scheduler.at(at, d.idx, E_HOP | (k << 4));
    }
    for (let j = 0; j < nRep; j++) this.scheduler.at(d.repAt[j]!, d.idx, E_REPLY | (j << 4));
    return settle;
  }

  private addReply(d: Device, j: number, at: number, req: number, kind: number): void {
    d.repAt[j] = at;
    d.repReq[j] = req;
    d.repKind[j] = kind;
  }

  /**
   * Moves a reply time out of every window of ±margin around a moment at which one of the cycle's
   * requests times out or leaves the late window, to the nearest edge still after its request.
   */
  private nudge(d: Device, n: number, tReq: number, r: number): number {
    const T = this.T;
    const L = this.L;
    const m = this.m;
    if (r <= d.reqAt[0]! + T - m) return r;
    const edges: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      const t = d.reqAt[i]!;
      edges.push([t + T - m, t + T + m], [t + T + L - m, t + T + L + m]);
    }
    edges.sort((a, b) => a[0] - b[0]);
    let lo = edges[0]![0];
    let hi = edges[0]![1];
    for (let i = 1; i <= edges.length; i++) {
      const e = edges[i];
      if (e !== undefined && e[0] <= hi) {
        hi = Math.max(hi, e[1]);
        continue;
      }
      if (r > lo && r < hi) {
        this.nudged++;
        return lo > tReq + 1 && r - lo <= hi - r ? lo : hi;
      }
      if (e === undefined) break;
      lo = e[0];
      hi = e[1];
    }
    return r;
  }

  private sendRequest(d: Device, k: number): void {
    const sym = d.reqSym[k];
    this.out(d.conn, 'STOCKPRICEUPDATE', sym ? symbolRequestPayload(d.id, sym.json) : requestPayload(d.id));
    this.ledger.request(this.scheduler.now, d.id, sym ? sym.name : null);
  }

  private sendHop(d: Device, k: number): void {
    const s = d.quoteSym[k]!;
    this.out(d.conn, 'HTTPSTREAMSTOCKS', httpStreamPayload(d.id, s.stream, s.market, s.json));
  }

  private sendReply(d: Device, j: number): void {
    const kind = d.repKind[j]!;
    const k = d.repReq[j]!;
    const sym = d.quoteSym[k]!;
    let payload: string;
    let info: ReplyInfo;
    switch (kind) {
      case K_UPDATE:
        if (d.kind === KIND_PLAYLIST) {
          payload = `${this.quote('UPDATE', d, sym)}${d.playlistTailA}${k - 1}${d.playlistTailB}`;
        } else {
          payload = this.quote('UPDATE', d, sym) + d.singleTail;
        }
        info = { cls: 'quote', type: 'UPDATE', symbol: sym.name, isNew: false, page: false };
        break;
      case K_NEW:
        payload = `${this.quote('NEW', d, sym)}${d.playlistTailA}${d.current}${d.playlistTailB}`;
        info = { cls: 'quote', type: 'NEW', symbol: sym.name, isNew: true, page: false };
        break;
      case K_PAGE:
        payload = pagePayload(
          d.spec.updateIntervalS,
          d.pageRev++,
          d.pageRev % 3 === 0 ? 'red' : 'green',
          false,
        );
        info = PAGE_QUOTE;
        break;
      case K_PAGE_ERROR:
        payload = pageErrorPayload(d.spec.updateIntervalS);
        info = PAGE_ERROR;
        break;
      case K_STOCK_ERROR:
        payload = stockErrorPayload(sym.json, sym.stream);
        info = { cls: 'error', type: 'STOCK_ERROR', symbol: sym.name, isNew: false, page: false };
        break;
      case K_INVALID:
        payload = INVALID_FORMAT_PAYLOAD;
        info = INVALID;
        break;
      case K_NO_CONFIG:
        payload = NO_CONFIG_PAYLOAD;
        info = NO_CONFIG;
        break;
      default:
        payload = deviceRegPayload(this.registrationCode(d));
        info = DEVICE_REG;
    }
    this.out(d.conn, d.id, payload);
    this.ledger.reply(this.scheduler.now, d.id, info);
  }

  private quote(type: 'UPDATE' | 'NEW', d: Device, s: SymbolInfo): string {
    const now = this.scheduler.now;
    const second = Math.floor(now / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.dateText = quoteDate(this.o.wallStartMs + now);
    }
    s.price *= Math.exp(0.002 * this.rng.normal());
    return quoteHead(type, s.json, d.currencyEsc, s.price, (s.price / s.open - 1) * 100, this.dateText);
  }
}
