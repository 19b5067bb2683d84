import {
  alertTopic,
  alertPayload,
  bootPayload,
  DEVICE_BOOTED_TOPIC,
  deviceRegPayload,
  firmwareUpdatePayload,
  firmwareUpdateTopic,
  HTTP_STREAM_TOPIC,
  httpStreamPayload,
  INVALID_FORMAT_PAYLOAD,
  jsonString,
  NO_CONFIG_PAYLOAD,
  pageErrorPayload,
  pagePayload,
  quoteDate,
  quoteHead,
  ReplyKind,
  ReplyType,
  stockErrorPayload,
} from '../protocol/index.js';
import { E_BOOT_REPLY, E_ECHO, type SimContext } from './context.js';
import {
  type Device,
  KIND_NOCONFIG,
  KIND_PAGE,
  KIND_PLAYLIST,
  KIND_SINGLE,
  type SymbolInfo,
} from './device.js';
import { deriveSeed, hash32, Rng } from './rng.js';
import { isHttpStream, marketOf, streamOf } from './streams.js';
import { type ReplyInfo, replyInfo } from './truth.js';

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

/** The backend misses this share of boot messages; the device then re-sends after 10 s. */
const BOOT_MISS_SHARE = 0.08;
const ALERT_SHARE = 0.002;
const FIRMWARE_UPDATE_SHARE = 0.0005;
const PAGE_ERROR_MESSAGE = jsonString('page source unavailable');

/** Reply kinds the cycle planner decides and the backend sends. */
export const K_UPDATE = 0;
export const K_NEW = 1;
export const K_PAGE = 2;
export const K_PAGE_ERROR = 3;
export const K_STOCK_ERROR = 4;
export const K_INVALID = 5;
export const K_NO_CONFIG = 6;
export const K_DEVICE_REG = 7;

const PAGE_QUOTE = replyInfo(ReplyKind.Page, undefined, undefined);
const PAGE_BOOT = replyInfo(ReplyKind.Page, ReplyType.New, undefined);
const PAGE_ERROR = replyInfo(ReplyKind.PageError, undefined, undefined);
const INVALID = replyInfo(ReplyKind.Error, ReplyType.InvalidFormat, undefined);
const NO_CONFIG = replyInfo(ReplyKind.NonQuote, ReplyType.NoConfig, undefined);
const DEVICE_REG = replyInfo(ReplyKind.NonQuote, ReplyType.DeviceReg, undefined);

function formatPrice(p: number): string {
  return p >= 1 ? p.toFixed(2) : p.toPrecision(4);
}

/** The quote backend: what it answers, when a boot is answered, and its other orders. */
export class Backend {
  private readonly symbolInfo = new Map<string, SymbolInfo>();
  private dateSecond = -1;
  private dateText = '';

  constructor(private readonly ctx: SimContext) {}

  /** The symbol's stream and price path, drawn once per symbol from the run's seed. */
  symbol(name: string): SymbolInfo {
    let s = this.symbolInfo.get(name);
    if (s) return s;
    const stream = streamOf(name);
    const [median, sigma] = STREAM_LATENCY[stream] ?? [200, 0.5];
    const traits = new Rng(deriveSeed(this.ctx.o.seed, `symbol:${name}`));
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

  /** A boot message reached the backend at `t`: plans the echo and, unless missed, the reply. */
  onBoot(d: Device, t: number): void {
    const { rng, scheduler } = this.ctx;
    const faults = this.ctx.o.faults;
    if (faults.inOutage(t)) return;
    const echoAt = t + rng.between(5, 40);
    if (!faults.inOutage(echoAt)) scheduler.at(echoAt, d.idx, E_ECHO);
    if (rng.chance(BOOT_MISS_SHARE)) return;
    const replyAt = t + Math.min(8000, Math.max(50, rng.lognormal(500, 0.5)));
    if (faults.inOutage(replyAt)) return;
    scheduler.at(Math.max(replyAt, echoAt + 1), d.idx, E_BOOT_REPLY);
    this.ctx.quietUntil(replyAt + 2);
  }

  sendEcho(d: Device): void {
    this.ctx.out(d.conn, DEVICE_BOOTED_TOPIC, bootPayload(d.id));
  }

  sendBootReply(d: Device, t: number): void {
    if (d.bootAnswered) return;
    const ctx = this.ctx;
    const now = ctx.scheduler.now;
    let payload: string;
    let info: ReplyInfo;
    switch (d.kind) {
      case KIND_SINGLE: {
        const s = d.syms[0]!;
        payload = this.quote(ReplyType.New, d, s) + d.singleTail;
        info = replyInfo(ReplyKind.Quote, ReplyType.New, s.name);
        break;
      }
      case KIND_PLAYLIST: {
        const cur = d.currentIndex(t);
        const s = d.syms[cur]!;
        payload = `${this.quote(ReplyType.New, d, s)}${d.playlistTailA}${cur}${d.playlistTailB}`;
        info = replyInfo(ReplyKind.Quote, ReplyType.New, s.name);
        break;
      }
      case KIND_PAGE: {
        const rev = d.pageRev++;
        payload = pagePayload(d.spec.updateIntervalS, rev, 'green', 3000 + (rev % 600), true);
        info = PAGE_BOOT;
        break;
      }
      case KIND_NOCONFIG:
        payload = NO_CONFIG_PAYLOAD;
        info = NO_CONFIG;
        break;
      default:
        payload = deviceRegPayload(this.registrationCode(d));
        info = DEVICE_REG;
    }
    ctx.out(d.conn, d.id, payload);
    ctx.ledger.reply(now, d.id, info);
    d.bootAnswered = true;
    d.booting = false;
    d.energyAt = t;
    d.lastCycleAt = t;
    ctx.planWake(d, t, t + ctx.rng.between(500, 2000));
  }

  /** Price alerts and firmware orders: backend traffic that is neither a reply nor a request. */
  sendExtras(d: Device, t: number): void {
    const { rng, o } = this.ctx;
    if (o.faults.inOutage(t)) return;
    if (rng.chance(ALERT_SHARE) && d.syms.length > 0) {
      const s = d.syms[0]!;
      const enable = rng.chance(0.7);
      this.ctx.out(
        d.conn,
        alertTopic(d.id),
        alertPayload(enable, s.json, formatPrice(s.price * 1.05), formatPrice(s.price * 0.95)),
      );
    }
    if (rng.chance(FIRMWARE_UPDATE_SHARE)) {
      this.ctx.out(d.conn, firmwareUpdateTopic(d.id), firmwareUpdatePayload('70p'));
    }
  }

  /** The hand-off of request `k` to the service that polls its HTTP stream. */
  sendHop(d: Device, k: number): void {
    const s = d.quoteSym[k]!;
    this.ctx.out(d.conn, HTTP_STREAM_TOPIC, httpStreamPayload(d.id, s.stream, s.market, s.json));
  }

  /** Reply `j` of the device's current cycle, as the planner decided it. */
  sendReply(d: Device, j: number): void {
    const kind = d.repKind[j]!;
    const k = d.repReq[j]!;
    const sym = d.quoteSym[k]!;
    let payload: string;
    let info: ReplyInfo;
    switch (kind) {
      case K_UPDATE:
        if (d.kind === KIND_PLAYLIST) {
          payload = `${this.quote(ReplyType.Update, d, sym)}${d.playlistTailA}${k - 1}${d.playlistTailB}`;
        } else {
          payload = this.quote(ReplyType.Update, d, sym) + d.singleTail;
        }
        info = replyInfo(ReplyKind.Quote, ReplyType.Update, sym.name);
        break;
      case K_NEW:
        payload = `${this.quote(ReplyType.New, d, sym)}${d.playlistTailA}${d.current}${d.playlistTailB}`;
        info = replyInfo(ReplyKind.Quote, ReplyType.New, sym.name);
        break;
      case K_PAGE: {
        const rev = d.pageRev++;
        const color = d.pageRev % 3 === 0 ? 'red' : 'green';
        payload = pagePayload(d.spec.updateIntervalS, rev, color, 3000 + (rev % 600), false);
        info = PAGE_QUOTE;
        break;
      }
      case K_PAGE_ERROR:
        payload = pageErrorPayload(d.spec.updateIntervalS, PAGE_ERROR_MESSAGE);
        info = PAGE_ERROR;
        break;
      case K_STOCK_ERROR:
        payload = stockErrorPayload(sym.json, jsonString(`No quote from ${sym.stream} for ${sym.name}`));
        info = replyInfo(ReplyKind.Error, ReplyType.StockError, sym.name);
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
    this.ctx.out(d.conn, d.id, payload);
    this.ctx.ledger.reply(this.ctx.scheduler.now, d.id, info);
  }

  private registrationCode(d: Device): string {
    return String(100_000 + (hash32(d.id) % 900_000));
  }

  private quote(type: typeof ReplyType.Update | typeof ReplyType.New, d: Device, s: SymbolInfo): string {
    const now = this.ctx.scheduler.now;
    const second = Math.floor(now / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.dateText = quoteDate(this.ctx.o.wallStartMs + now);
    }
    s.price *= Math.exp(0.002 * this.ctx.rng.normal());
    const percent = (s.price / s.open - 1) * 100;
    const pct = `${percent >= 0 ? '+' : ''}${percent.toFixed(2)}`;
    return quoteHead(type, s.json, d.currencyEsc, formatPrice(s.price), pct, this.dateText, s.json);
  }
}
