import {
  BOOT_TOPIC,
  bootPayload,
  HEARTBEAT_TOPIC,
  type HeartbeatReading,
  heartbeatPayload,
  jsonString,
  logTopic,
  playlistTail,
  REQUEST_TOPIC,
  requestPayload,
  singleTail,
} from '../protocol/index.js';
import type { DeviceSpec } from './profile.js';
import { hash32 } from './rng.js';
import { E_BOOT, E_BOOT_RETRY, E_SILENT_HB, type SimContext } from './context.js';
import { UPTIME_WRAP_FLOOR_S } from './truth.js';

/** What the fleet's devices and the backend know of one symbol. */
export interface SymbolInfo {
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

export const KIND_SINGLE = 0;
export const KIND_PLAYLIST = 1;
export const KIND_PAGE = 2;
export const KIND_NOCONFIG = 3;
export const KIND_UNREGISTERED = 4;

/** The device re-sends its boot message until the backend answers (real time). */
const BOOT_RESEND_MS = 10_000;
/** Reboots of one device stay further apart than the exporter's 120 s boot-message window. */
const REBOOT_SPACING_MS = 180_000;
/** Share of reboots whose boot message is lost: only the uptime drop shows them. */
const SILENT_REBOOT_SHARE = 0.2;
/** Device-time constants, divided by speed. */
export const HEARTBEAT_MIN_MS = 30_000;
const REBOOT_MEAN_MS = 12 * 3_600_000;

const TWO_POW_32 = 4_294_967_296;

/** One device: its configuration, the payload parts it and its backend reuse, its state. */
export class Device {
  readonly id: string;
  readonly kind: number;
  readonly syms: SymbolInfo[];
  /** Tail of quote replies after `"name":…`, for single-ticker devices. */
  readonly singleTail: string;
  /** Parts of the playlist tail around `symbolIndex`. */
  readonly playlistTailA: string;
  readonly playlistTailB: string;
  readonly currencyEsc: string;
  readonly firmwareJson: string;
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
    this.singleTail = singleTail(spec.updateIntervalS, spec.ledBrightness, spec.alertEnabled);
    [this.playlistTailA, this.playlistTailB] = playlistTail(
      jsonString(syms.map((s) => s.name).join(',')),
      spec.cycleIntervalS,
      spec.updateIntervalS,
      spec.ledBrightness,
      spec.alertEnabled,
    );
    this.firmwareJson = jsonString(spec.firmware);
    this.updateMs = (spec.updateIntervalS * 1000) / speed;
    this.cycleMs = Math.max(1, (spec.cycleIntervalS * 1000) / speed);
    this.phase = hash32(spec.id) % 1_000_000;
    this.bootAt = -spec.uptimeS * 1000;
    this.battery = spec.battery;
    this.vin = spec.vin;
  }

  /** The playlist position the device shows at `t`. */
  currentIndex(t: number): number {
    return Math.floor((t + this.phase) / this.cycleMs) % this.syms.length;
  }
}

/** What devices do on their own: heartbeats, requests, boots and reboots. */
export class DeviceBehaviour {
  /** One reading reused for every heartbeat. */
  private readonly reading: HeartbeatReading = {
    deviceId: '',
    firmwareJson: '',
    battery: 0,
    uptimeS: 0,
    charging: false,
  };

  constructor(private readonly ctx: SimContext) {}

  mayReboot(d: Device, t: number): boolean {
    if (t - d.lastRebootAt < REBOOT_SPACING_MS || d.heartbeatsThisBoot === 0) return false;
    const deviceMs = (t - d.lastCycleAt) * this.ctx.o.speed;
    return this.ctx.rng.chance(Math.min(0.5, deviceMs / REBOOT_MEAN_MS));
  }

  reboot(d: Device, t: number): void {
    const { rng, scheduler } = this.ctx;
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
      scheduler.at(b + rng.between(2000, 4000), d.idx, E_SILENT_HB);
    } else {
      d.booting = true;
      d.bootAnswered = false;
      scheduler.at(b + rng.between(1000, 3000), d.idx, E_BOOT | (1 << 4));
    }
  }

  heartbeat(d: Device, t: number): void {
    const { rng, scheduler, ledger } = this.ctx;
    const now = scheduler.now;
    const f = d.spec.fields;
    const hours = ((t - d.energyAt) * this.ctx.o.speed) / 3_600_000;
    d.energyAt = t;
    if (d.vin > 2500) d.battery = Math.min(100, d.battery + 20 * hours);
    else d.battery = Math.max(0, d.battery - 1.5 * hours);
    d.vin = Math.max(0, Math.min(4095, d.vin + Math.round(rng.between(-15, 15))));
    if (rng.chance(0.01)) d.wflct++;
    let ms = now - d.bootAt;
    if (ms >= TWO_POW_32) ms %= TWO_POW_32;
    const uptime = Math.floor(ms / 1000);
    const h = this.reading;
    h.deviceId = d.id;
    h.firmwareJson = d.firmwareJson;
    h.battery = Math.round(d.battery);
    h.uptimeS = uptime;
    h.charging = d.vin > 2500 && d.battery < 100;
    h.vin = f.vin ? d.vin : undefined;
    h.wifiLost = f.wflct ? d.wflct : undefined;
    h.innerVersion = f.iv ? d.spec.iv : undefined;
    h.flashCheck = f.xmc ? d.spec.xmc : undefined;
    h.flashId = f.flashID ? d.spec.flashId : undefined;
    this.ctx.out(d.conn, HEARTBEAT_TOPIC, heartbeatPayload(h));
    ledger.heartbeat(now, d.id, uptime);
    d.lastHeartbeatAt = t;
    d.lastHeartbeatUptime = uptime;
    d.heartbeatsThisBoot++;
  }

  /**
   * The boot message (with a log line after a real boot), and its re-send should no reply come;
   * false when the run no longer boots devices.
   */
  sendBoot(d: Device, t: number, first: boolean): boolean {
    const ctx = this.ctx;
    if (first && !ctx.asking(t)) {
      d.booting = false;
      return false;
    }
    ctx.out(d.conn, BOOT_TOPIC, bootPayload(d.id));
    ctx.ledger.boot(ctx.scheduler.now, d.id);
    if (first) {
      const rng = ctx.rng;
      const text = `TickrMeter ${d.spec.firmware} ${d.id} booted: reset reason ${1 + rng.below(9)}, free heap ${150_000 + rng.below(40_000)}, rssi -${40 + rng.below(50)}`;
      ctx.out(d.conn, logTopic(d.id), text);
    }
    ctx.scheduler.at(t + BOOT_RESEND_MS, d.idx, E_BOOT_RETRY);
    return true;
  }

  /** Request `k` of the device's current cycle. */
  sendRequest(d: Device, k: number): void {
    const sym = d.reqSym[k];
    this.ctx.out(d.conn, REQUEST_TOPIC, requestPayload(d.id, sym ? sym.json : undefined));
    this.ctx.ledger.request(this.ctx.scheduler.now, d.id, sym ? sym.name : null);
  }
}
