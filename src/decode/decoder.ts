import {
  CHARGING,
  classifyTopic,
  type HttpStreamParams,
  isDeviceId,
  NOT_CHARGING,
  type PayloadFields,
  type QuoteParams,
  REPLY_KIND_CLASS,
  REQUEST_TYPE,
  ReplyClass,
  ReplyKind,
  readSymbol,
  replyKindOf,
  replyLabelOf,
  ReplyType,
  TopicClass,
} from '../protocol/index.js';
import { DEVICE_KEYS, HEARTBEAT_KEYS, REPLY_KEYS, REQUEST_KEYS, scanFields } from './scan.js';
import type { MessageKind } from './topics.js';

export { MAX_SYMBOL_LENGTH, ReplyClass } from '../protocol/index.js';

/** Why a message was dropped, the `reason` label of `tkmprom_messages_invalid_total`. */
export const INVALID_REASONS = [
  'oversize',
  'bad_json',
  'not_object',
  'missing_field',
  'wrong_type',
  'bad_device_id',
  'bad_symbol',
  'out_of_range',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

/**
 * The decoded form of one message. One instance is reused for every message, so the hot path
 * allocates nothing beyond what JSON.parse must; consumers copy what they keep.
 */
export class DecodedMessage {
  kind: MessageKind = 'invalid';
  invalidReason: InvalidReason | undefined = undefined;
  /** Device id, from the payload or the topic; '' when the message names none. */
  device = '';
  /** Request or reply symbol; undefined when absent (or empty, which the firmware means the same by). */
  symbol: string | undefined = undefined;
  replyClass: ReplyClass = ReplyClass.NonQuote;
  /** `type` label for errors, non-quote and unmatched replies: UPDATE, NEW, PAGE, STOCK_ERROR, ... */
  replyType = '';
  /** A quote or page reply of type NEW (prefers the symbol-less request, see docs/correlation.md). */
  isNew = false;
  isPage = false;
  /** The device's update interval as its reply states it, in seconds; NaN when absent. */
  updateIntervalSeconds = Number.NaN;
  // Heartbeat fields: undefined or NaN mean unknown, never zero.
  firmware: string | undefined = undefined;
  innerVersion: string | undefined = undefined;
  flashId: string | undefined = undefined;
  battery = Number.NaN;
  vin = Number.NaN;
  uptime = Number.NaN;
  wifiLost = Number.NaN;
  flashCheck = Number.NaN;
  /** 1 charging, 0 not charging, -1 unknown. */
  charging = -1;
  /** HTTPSTREAMSTOCKS: the stream that serves `symbol`. */
  stream: string | undefined = undefined;

  reset(): void {
    this.kind = 'invalid';
    this.invalidReason = undefined;
    this.device = '';
    this.symbol = undefined;
    this.replyClass = ReplyClass.NonQuote;
    this.replyType = '';
    this.isNew = false;
    this.isPage = false;
    this.updateIntervalSeconds = Number.NaN;
    this.firmware = undefined;
    this.innerVersion = undefined;
    this.flashId = undefined;
    this.battery = Number.NaN;
    this.vin = Number.NaN;
    this.uptime = Number.NaN;
    this.wifiLost = Number.NaN;
    this.flashCheck = Number.NaN;
    this.charging = -1;
    this.stream = undefined;
  }
}

export interface DecoderOptions {
  maxPayloadBytes: number;
  /** @internal Always take the JSON.parse path, so tests can hold the scanner's path against it. */
  parseOnly?: boolean;
}

type Json = PayloadFields;

/**
 * Reads one MQTT message into `out`. Returns false when the message is invalid; `out.kind` is then
 * `invalid` and `out.invalidReason` says why. Never throws on any input.
 */
export function decodeMessage(
  topic: string,
  payload: Buffer,
  out: DecodedMessage,
  opts: DecoderOptions,
): boolean {
  out.reset();
  const cls = classifyTopic(topic);
  switch (cls) {
    case TopicClass.Unknown:
      out.kind = 'unknown_topic';
      return true;
    case TopicClass.Log:
    case TopicClass.Alert:
    case TopicClass.FirmwareUpdate: {
      // Free text or backend orders: only the device they name matters to the exporter.
      out.kind = cls === TopicClass.Log ? 'log' : cls === TopicClass.Alert ? 'alert' : 'firmware_update';
      const id = topic.slice(topic.indexOf('/') + 1);
      if (isDeviceId(id)) out.device = id;
      return true;
    }
    case TopicClass.StatusPoll:
      out.kind = 'status_poll';
      return true;
  }

  if (payload.length > opts.maxPayloadBytes) return invalid(out, 'oversize');
  // The scanner reads the top-level fields below without building the object; what it declines, nested
  // HTTPSTREAMSTOCKS parameters included, goes through JSON.parse, which also decides every error.
  const wanted =
    cls === TopicClass.Reply
      ? REPLY_KEYS
      : cls === TopicClass.Request
        ? REQUEST_KEYS
        : cls === TopicClass.Heartbeat
          ? HEARTBEAT_KEYS
          : cls === TopicClass.Boot || cls === TopicClass.DeviceBooted
            ? DEVICE_KEYS
            : 0;
  let obj = wanted === 0 || opts.parseOnly ? undefined : (scanFields(payload, wanted) as Json | undefined);
  if (obj === undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      return invalid(out, 'bad_json');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return invalid(out, 'not_object');
    obj = doc as Json;
  }

  switch (cls) {
    case TopicClass.Reply:
      out.device = topic;
      return decodeReply(obj, out);
    case TopicClass.Request:
      return decodeRequest(obj, out);
    case TopicClass.Heartbeat:
      return decodeHeartbeat(obj, out);
    case TopicClass.Boot:
    case TopicClass.DeviceBooted: {
      const ok = readDevice(obj, out);
      if (ok) out.kind = cls === TopicClass.Boot ? 'boot' : 'device_booted';
      return ok;
    }
    case TopicClass.HttpStream:
      return decodeHttpStream(obj, out);
  }
  return invalid(out, 'wrong_type');
}

function invalid(out: DecodedMessage, reason: InvalidReason): false {
  out.kind = 'invalid';
  out.invalidReason = reason;
  return false;
}

function readDevice(obj: Json, out: DecodedMessage): boolean {
  const d = obj.device;
  if (d === undefined) return invalid(out, 'missing_field');
  if (typeof d !== 'string') return invalid(out, 'wrong_type');
  if (!isDeviceId(d)) return invalid(out, 'bad_device_id');
  out.device = d;
  return true;
}

/** Numbers arrive as strings; absent, empty or non-numeric is unknown (NaN). */
export function readNumber(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v !== 'string' || v.length === 0 || v.length > 24) return Number.NaN;
  const n = Number(v);
  return Number.isFinite(n) ? n : Number.NaN;
}

function readLabel(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v.length === 0) return undefined;
  // Label values end up in every scrape: keep them short and printable.
  return v.length > 32 ? v.slice(0, 32) : v;
}

function decodeRequest(obj: Json, out: DecodedMessage): boolean {
  if (obj.type !== REQUEST_TYPE) return invalid(out, obj.type === undefined ? 'missing_field' : 'wrong_type');
  if (!readDevice(obj, out)) return false;
  const s = readSymbol(obj.symbol);
  if (s === false) return invalid(out, 'bad_symbol');
  out.symbol = s;
  out.kind = 'request';
  return true;
}

function decodeReply(obj: Json, out: DecodedMessage): boolean {
  const type = obj.type;
  if (type !== undefined && typeof type !== 'string') return invalid(out, 'wrong_type');
  const s = readSymbol(obj.symbol);
  if (s === false) return invalid(out, 'bad_symbol');
  out.symbol = s;
  out.kind = 'reply';
  const interval = readNumber(obj.updateInterval ?? obj.interval);
  if (interval > 0) out.updateIntervalSeconds = interval;

  const kind = replyKindOf(type, obj.mode, obj.error, s !== undefined);
  out.replyClass = REPLY_KIND_CLASS[kind]!;
  out.replyType = replyLabelOf(kind, type);
  out.isPage = kind === ReplyKind.Page || kind === ReplyKind.PageError;
  out.isNew = type === ReplyType.New && (kind === ReplyKind.Quote || kind === ReplyKind.Page);
  return true;
}

function decodeHeartbeat(obj: Json, out: DecodedMessage): boolean {
  if (!readDevice(obj, out)) return false;
  out.firmware = readLabel(obj.firmware_version);
  out.innerVersion = readLabel(obj.iv);
  out.flashId = readLabel(obj.flashID);
  const battery = readNumber(obj.battery);
  if (battery < 0 || battery > 100) return invalid(out, 'out_of_range');
  out.battery = battery;
  const vin = readNumber(obj.vin);
  if (vin < 0 || vin > 4095) return invalid(out, 'out_of_range');
  out.vin = vin;
  const uptime = readNumber(obj.uptime);
  if (uptime < 0) return invalid(out, 'out_of_range');
  out.uptime = uptime;
  out.wifiLost = readNumber(obj.wflct);
  out.flashCheck = readNumber(obj.xmc);
  const ch = obj.isCharging;
  out.charging = ch === CHARGING || ch === 1 ? 1 : ch === NOT_CHARGING || ch === 0 ? 0 : -1;
  out.kind = 'heartbeat';
  return true;
}

function decodeHttpStream(obj: Json, out: DecodedMessage): boolean {
  if (!readDevice(obj, out)) return false;
  const params = obj.params as HttpStreamParams | undefined;
  const gqp =
    params && typeof params === 'object' ? (params.getQuoteParams as QuoteParams | undefined) : undefined;
  if (!gqp || typeof gqp !== 'object') return invalid(out, 'missing_field');
  const stream = gqp.stream;
  if (typeof stream !== 'string' || stream.length === 0 || stream.length > 64) {
    return invalid(out, stream === undefined ? 'missing_field' : 'wrong_type');
  }
  const s = readSymbol(gqp.symbol);
  if (s === false) return invalid(out, 'bad_symbol');
  out.stream = stream;
  out.symbol = s;
  out.kind = 'http_stream_request';
  return true;
}
