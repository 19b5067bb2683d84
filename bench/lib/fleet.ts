import { readFileSync } from 'node:fs';
import {
  BOOT_TOPIC,
  bootPayload,
  DEVICE_BOOTED_TOPIC,
  HEARTBEAT_TOPIC,
  HTTP_STREAM_TOPIC,
  heartbeatPayload,
  httpStreamPayload,
  jsonString,
  logTopic,
  alertTopic,
  alertPayload,
  pagePayload,
  playlistTail,
  quoteHead,
  REQUEST_TOPIC,
  ReplyType,
  requestPayload,
  STATUS_POLL_PAYLOAD,
  STATUS_POLL_TOPIC,
  singleTail,
  stockErrorPayload,
} from '../../src/protocol/index.js';
import { mulberry32 } from '../../src/sim/index.js';
import { publishFrame } from './frames.js';

/**
 * A synthetic fleet shaped by data/fleet-profile.json and the traffic it sends, rendered once into
 * a buffer of ready-made MQTT PUBLISH frames in the order they are to be played. Playing the buffer
 * in a loop at a rate R makes every device repeat its update cycle once per `periodSeconds`.
 */

export interface FleetSpec {
  devices: number;
  symbols: number;
  seed?: number;
  /** The rate the script is meant to be played at; sets the virtual time between frames. */
  rate: number;
}

export interface Script {
  /** Frames back to back, in play order. */
  data: Buffer;
  /** Start of frame i is offsets[i]; offsets[count] is data.length. */
  offsets: Uint32Array;
  count: number;
  /** Frames per message kind, for the summary. */
  kinds: Record<string, number>;
  /** Seconds one pass over the script takes at `rate`. */
  periodSeconds: number;
  /** Factor applied to in-cycle delays (request spacing, reply latency) so cycles fit in a period. */
  timeScale: number;
  devices: number;
  symbolsUsed: number;
}

interface ValueCount<T> {
  value: T;
  count: number;
}

interface Profile {
  playlist_share: number;
  firmware_versions: ValueCount<string>[];
  battery_percent: ValueCount<number>[];
  vin_adc_raw_bucket250: ValueCount<number>[];
  single_update_interval_s: ValueCount<number>[];
  playlist_update_interval_s: ValueCount<number>[];
  playlist_cycle_interval_s: ValueCount<number>[];
  playlist_size: ValueCount<number>[];
  currency_display: ValueCount<string>[];
  symbols_by_popularity: { symbol: string; devices: number }[];
}

let profileCache: Profile | undefined;

export function loadProfile(): Profile {
  profileCache ??= JSON.parse(
    readFileSync(new URL('../../data/fleet-profile.json', import.meta.url), 'utf8'),
  ) as Profile;
  return profileCache;
}

class Weighted<T> {
  private readonly cdf: Float64Array;
  constructor(
    private readonly values: readonly T[],
    weights: readonly number[],
  ) {
    this.cdf = new Float64Array(weights.length);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      sum += weights[i]!;
      this.cdf[i] = sum;
    }
    for (let i = 0; i < this.cdf.length; i++) this.cdf[i]! /= sum;
  }

  static of<T>(counts: readonly ValueCount<T>[]): Weighted<T> {
    return new Weighted(
      counts.map((c) => c.value),
      counts.map((c) => c.count),
    );
  }

  index(u: number): number {
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  pick(u: number): T {
    return this.values[this.index(u)]!;
  }
}

/** Frames are written into one growing arena with their virtual times, then sorted once. */
class Arena {
  data = Buffer.allocUnsafe(1 << 20);
  used = 0;
  starts = new Uint32Array(1 << 14);
  times = new Float64Array(1 << 14);
  kinds = new Uint8Array(1 << 14);
  count = 0;

  add(time: number, kind: number, frame: Buffer): void {
    if (this.used + frame.length > this.data.length) {
      const next = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.used + frame.length));
      this.data.copy(next, 0, 0, this.used);
      this.data = next;
    }
    if (this.count + 1 >= this.starts.length) {
      const n = this.starts.length * 2;
      const s = new Uint32Array(n);
      s.set(this.starts);
      this.starts = s;
      const t = new Float64Array(n);
      t.set(this.times);
      this.times = t;
      const k = new Uint8Array(n);
      k.set(this.kinds);
      this.kinds = k;
    }
    this.starts[this.count] = this.used;
    this.times[this.count] = time;
    this.kinds[this.count] = kind;
    this.count++;
    this.used += frame.copy(this.data, this.used);
    this.starts[this.count] = this.used;
  }
}

export const KINDS = [
  'heartbeat',
  'request',
  'reply_update',
  'reply_new',
  'reply_page',
  'reply_stock_error',
  'boot',
  'device_booted',
  'http_stream_request',
  'log',
  'alert',
  'status_poll',
] as const;
const K = Object.fromEntries(KINDS.map((k, i) => [k, i])) as Record<(typeof KINDS)[number], number>;

const STREAMS = ['commodities-api', 'electricity', 'custom-api', 'humbl3'];
const FLASH_IDS = ['C84017', 'EF4016', 'C84016', '684017'];
const NAMES = ['Inc.', 'Corp.', 'Holdings', 'Group', 'plc', 'A/S', 'AB', 'SE'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// Shares of the outcomes, chosen to exercise every path while staying close to a healthy fleet.
const TIMEOUT_SHARE = 0.015;
const STOCK_ERROR_SHARE = 0.01;
const PAGE_DEVICE_SHARE = 0.02;
const BOOT_SHARE = 0.004;
const ALERT_SHARE = 0.002;
const HTTP_SYMBOL_SHARE = 0.03;
/** Longest in-cycle span at full scale: boot, ten playlist requests 300 ms apart, a slow reply. */
const CYCLE_SPAN_S = 5;

function hexId(rng: () => number): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += '0123456789ABCDEF'[Math.floor(rng() * 16)];
  return s;
}

function syntheticSymbol(rng: () => number, taken: Set<string>): string {
  for (;;) {
    const len = 3 + Math.floor(rng() * 3);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(65 + Math.floor(rng() * 26));
    if (rng() < 0.1) s += rng() < 0.5 ? '.B' : '.DE';
    if (!taken.has(s)) {
      taken.add(s);
      return s;
    }
  }
}

interface Device {
  id: string;
  playlist: string[];
  page: boolean;
  firmware: string;
  battery: number;
  vin: number;
  uptime: number;
  wifiLost: number;
  flashId: string;
  updateInterval: number;
  cycleInterval: number;
  currency: string;
}

/** Builds the fleet and renders one cycle per device into frames sorted by virtual time. */
export function buildScript(spec: FleetSpec): Script {
  const profile = loadProfile();
  const rng = mulberry32(spec.seed ?? 1);

  const names: string[] = [];
  const weights: number[] = [];
  const taken = new Set<string>();
  for (const s of profile.symbols_by_popularity) {
    if (names.length >= spec.symbols) break;
    names.push(s.symbol);
    weights.push(s.devices);
    taken.add(s.symbol);
  }
  while (names.length < spec.symbols) {
    names.push(syntheticSymbol(rng, taken));
    weights.push(1);
  }
  const popularity = new Weighted(
    names.map((_, i) => i),
    weights,
  );
  const httpStream = new Map<string, string>();
  for (const n of names) if (rng() < HTTP_SYMBOL_SHARE) httpStream.set(n, STREAMS[Math.floor(rng() * 4)]!);
  const prices = new Map(names.map((n) => [n, Math.round((1 + rng() * rng() * 900) * 100) / 100]));

  const firmware = Weighted.of(profile.firmware_versions);
  const battery = Weighted.of(profile.battery_percent);
  const vin = Weighted.of(profile.vin_adc_raw_bucket250);
  const singleInterval = Weighted.of(profile.single_update_interval_s);
  const playlistInterval = Weighted.of(profile.playlist_update_interval_s);
  const cycleInterval = Weighted.of(profile.playlist_cycle_interval_s);
  const playlistSize = Weighted.of(profile.playlist_size);
  const currency = Weighted.of(profile.currency_display);

  // Every symbol appears at least once when the fleet has slots enough; the rest follow popularity.
  let forced = 0;
  const nextSymbol = (exclude: Set<string>): string => {
    while (forced < names.length) {
      const n = names[forced++]!;
      if (!exclude.has(n)) return n;
    }
    for (;;) {
      const n = names[popularity.pick(rng())]!;
      if (!exclude.has(n) || exclude.size >= names.length) return n;
    }
  };

  const ids = new Set<string>();
  const devices: Device[] = [];
  for (let i = 0; i < spec.devices; i++) {
    let id = hexId(rng);
    while (ids.has(id)) id = hexId(rng);
    ids.add(id);
    const isPlaylist = rng() < profile.playlist_share;
    const size = isPlaylist ? Math.min(playlistSize.pick(rng()), names.length) : 1;
    const chosen = new Set<string>();
    for (let k = 0; k < size; k++) chosen.add(nextSymbol(chosen));
    const v = vin.pick(rng());
    devices.push({
      id,
      playlist: [...chosen],
      page: !isPlaylist && rng() < PAGE_DEVICE_SHARE,
      firmware: firmware.pick(rng()),
      battery: battery.pick(rng()),
      vin: v === 0 ? -1 : Math.min(4095, v + Math.floor(rng() * 250)),
      uptime: Math.floor(rng() * 30 * 86400),
      wifiLost: Math.floor(rng() * rng() * 20),
      flashId: FLASH_IDS[Math.floor(rng() * FLASH_IDS.length)]!,
      updateInterval: isPlaylist ? playlistInterval.pick(rng()) : singleInterval.pick(rng()),
      cycleInterval: cycleInterval.pick(rng()),
      currency: currency.pick(rng()),
    });
  }

  // Frames per device cycle are known before times are: count them to size the period.
  let frames = 0;
  const plan = devices.map((d) => {
    const boot = rng() < BOOT_SHARE;
    const alert = rng() < ALERT_SHARE;
    const requests = d.playlist.length > 1 ? d.playlist.length + 1 : 1;
    const outcomes: number[] = [];
    let replies = 0;
    for (let r = 0; r < requests; r++) {
      const u = rng();
      const o = u < TIMEOUT_SHARE ? 0 : u < TIMEOUT_SHARE + STOCK_ERROR_SHARE ? 2 : 1;
      outcomes.push(o);
      if (o !== 0) replies++;
    }
    let http = 0;
    for (let r = 0; r < requests; r++) {
      const sym = r === 0 ? d.playlist[0]! : d.playlist[r - 1]!;
      if (httpStream.has(sym) && outcomes[r] !== 0 && !d.page) http++;
    }
    frames += 1 + requests + replies + http + (boot ? 4 : 0) + (alert ? 1 : 0);
    return { boot, alert, outcomes };
  });
  frames += 1;
  const periodSeconds = frames / spec.rate;
  const timeScale = Math.min(1, periodSeconds / (2 * CYCLE_SPAN_S));

  const arena = new Arena();
  const add = (t: number, kind: number, topic: string, payload: string) => {
    arena.add(((t % periodSeconds) + periodSeconds) % periodSeconds, kind, publishFrame(topic, payload));
  };
  const latency = () => Math.min(1.5, Math.exp(Math.log(0.25) + 0.7 * gaussian(rng)));
  const date = (t: number) => {
    const h = 1 + Math.floor(t % 12);
    return `${String(h).padStart(2, '0')}:${String(Math.floor(rng() * 60)).padStart(2, '0')}${rng() < 0.5 ? 'AM' : 'PM'} ${1 + Math.floor(rng() * 28)} ${MONTHS[Math.floor(rng() * 12)]} 2023`;
  };

  for (let i = 0; i < devices.length; i++) {
    const d = devices[i]!;
    const p = plan[i]!;
    const t0 = rng() * periodSeconds;
    const s = timeScale;
    if (p.boot) {
      add(t0 - 1.0 * s, K.boot, BOOT_TOPIC, bootPayload(d.id));
      add(t0 - 0.95 * s, K.device_booted, DEVICE_BOOTED_TOPIC, bootPayload(d.id));
      add(t0 - 0.9 * s, K.log, logTopic(d.id), `Booting firmware ${d.firmware}, free heap 182340`);
      add(t0 - 0.6 * s, K.reply_new, d.id, quote(ReplyType.New, d, d.playlist[0]!, 0));
    }
    if (p.alert) add(t0 + 0.01 * s, K.alert, alertTopic(d.id), alertPayload(false));
    add(t0, K.heartbeat, HEARTBEAT_TOPIC, heartbeat(d));
    const playlist = d.playlist.length > 1;
    const requests = playlist ? d.playlist.length + 1 : 1;
    const current = Math.floor(rng() * d.playlist.length);
    for (let r = 0; r < requests; r++) {
      const tr = t0 + (0.05 + 0.3 * r) * s;
      const sym = r === 0 ? undefined : d.playlist[r - 1]!;
      add(
        tr,
        K.request,
        REQUEST_TOPIC,
        requestPayload(d.id, sym === undefined ? undefined : jsonString(sym)),
      );
      const outcome = p.outcomes[r]!;
      if (outcome === 0) continue;
      const shown = sym ?? d.playlist[current]!;
      const lat = latency() * s;
      const stream = httpStream.get(shown);
      if (stream !== undefined && !d.page) {
        add(tr + lat / 2, K.http_stream_request, HTTP_STREAM_TOPIC, httpHandOff(d, shown, stream));
      }
      if (outcome === 2) {
        add(
          tr + lat,
          K.reply_stock_error,
          d.id,
          stockErrorPayload(jsonString(shown), jsonString(`Unable to fetch a quote for ${shown}`)),
        );
      } else if (d.page) {
        add(
          tr + lat,
          K.reply_page,
          d.id,
          pagePayload(d.updateInterval, 1 + (i % 7), 'green', 1000 + (i % 3000), false),
        );
      } else if (sym === undefined && playlist) {
        add(tr + lat, K.reply_new, d.id, quote(ReplyType.New, d, shown, current));
      } else {
        add(tr + lat, K.reply_update, d.id, quote(ReplyType.Update, d, shown, r === 0 ? 0 : r - 1));
      }
    }
  }
  add(periodSeconds / 2, K.status_poll, STATUS_POLL_TOPIC, STATUS_POLL_PAYLOAD);

  function quote(
    type: typeof ReplyType.Update | typeof ReplyType.New,
    d: Device,
    sym: string,
    index: number,
  ): string {
    const price = (prices.get(sym) ?? 10).toFixed(2);
    const cur = jsonString(d.currency === 'none' ? '' : d.currency).slice(1, -1);
    const pct = (rng() - 0.5) * 6;
    const percent = `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}`;
    const name = jsonString(`${sym} ${NAMES[sym.length % NAMES.length]}`);
    const head = quoteHead(type, jsonString(sym), cur, price, percent, date(index), name);
    if (d.playlist.length > 1) {
      const [before, after] = playlistTail(
        jsonString(d.playlist.join(',')),
        d.cycleInterval,
        d.updateInterval,
        50,
        false,
      );
      return `${head}${before}${index}${after}`;
    }
    return head + singleTail(d.updateInterval, 50, false);
  }

  // Sort by virtual time and lay the frames out in play order.
  const order = new Uint32Array(arena.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  const times = arena.times;
  order.sort((a, b) => times[a]! - times[b]!);
  const data = Buffer.allocUnsafe(arena.used);
  const offsets = new Uint32Array(arena.count + 1);
  const kinds: Record<string, number> = {};
  for (const k of KINDS) kinds[k] = 0;
  let at = 0;
  for (let n = 0; n < order.length; n++) {
    const i = order[n]!;
    offsets[n] = at;
    at += arena.data.copy(data, at, arena.starts[i]!, arena.starts[i + 1]!);
    kinds[KINDS[arena.kinds[i]!]!]!++;
  }
  offsets[arena.count] = at;
  const used = new Set<string>();
  for (const d of devices) for (const s of d.playlist) used.add(s);
  return {
    data,
    offsets,
    count: arena.count,
    kinds,
    periodSeconds: arena.count / spec.rate,
    timeScale,
    devices: devices.length,
    symbolsUsed: used.size,
  };
}

function heartbeat(d: Device): string {
  const fw = d.firmware;
  const modern = fw === '45p' || fw === '44p' || fw === '37p';
  const mid = modern || fw === '36p' || fw === '35p';
  return heartbeatPayload({
    deviceId: d.id,
    firmwareJson: jsonString(fw),
    battery: d.battery,
    uptimeS: d.uptime,
    charging: d.vin > 2500 && d.battery < 96,
    vin: mid && d.vin >= 0 ? d.vin : undefined,
    wifiLost: mid ? d.wifiLost : undefined,
    innerVersion: modern ? 'elec+HB' : undefined,
    flashCheck: modern ? 0 : undefined,
    flashId: modern ? d.flashId : undefined,
  });
}

function httpHandOff(d: Device, sym: string, stream: string): string {
  const currency = d.currency === 'none' ? 'USD' : d.currency;
  return httpStreamPayload(d.id, stream, 'spot', jsonString(sym), {
    quoteParams: `"currency":${jsonString(currency)}`,
    configObject: `{"updateInterval":${d.updateInterval},"ledBrightness":50}`,
    userTimeParams: '{"timezone":"Europe/Copenhagen","format24":true}',
  });
}

function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
