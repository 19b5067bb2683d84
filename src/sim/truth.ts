import {
  ReplyClass as ProtocolReplyClass,
  REPLY_KIND_CLASS,
  ReplyKind,
  ReplyType,
  readSymbol,
  replyKindOf,
  replyLabelOf,
} from '../protocol/index.js';
import { streamOf } from './streams.js';

/** What happened to the requests counted under one symbol (or one stream). */
export interface Outcome {
  requests: number;
  responses: number;
  timeouts: number;
  errors: number;
  late: number;
}

/**
 * The ground truth of a run: what an exporter following docs/correlation.md and docs/fleet.md
 * counts from the simulator's traffic.
 */
export interface Truth {
  /** Every message the simulator published. */
  messages: number;
  symbols: Record<string, Outcome>;
  /** The same outcomes summed by `streamOf(symbol)`; `_page` and `unknown` under `unmapped`. */
  streams: Record<string, Outcome>;
  reboots: number;
  /** Non-quote replies (NO_CONFIG, DEVICE_REG, ...) that answered a request in time. */
  nonQuote: number;
  unmatched: number;
}

export type ReplyClass = 'quote' | 'error' | 'nonquote';

export interface ReplyInfo {
  cls: ReplyClass;
  /** The reply's type, as the exporter labels it (`PAGE_ERROR`, `OTHER`, ...). */
  type: string;
  /** Quote: its symbol, `_page` for page mode. Error or non-quote: the `symbol` it carries. */
  symbol: string | undefined;
  isNew: boolean;
  page: boolean;
}

/** The symbol page-mode replies count under. */
export const PAGE_SYMBOL = '_page';

const CLASS_NAME: Record<ProtocolReplyClass, ReplyClass> = {
  [ProtocolReplyClass.Quote]: 'quote',
  [ProtocolReplyClass.Error]: 'error',
  [ProtocolReplyClass.NonQuote]: 'nonquote',
};

/** How the ledger counts a reply of this row of the protocol's table, with its `type` and symbol. */
export function replyInfo(kind: ReplyKind, type: string | undefined, symbol: string | undefined): ReplyInfo {
  const page = kind === ReplyKind.Page || kind === ReplyKind.PageError;
  return {
    cls: CLASS_NAME[REPLY_KIND_CLASS[kind]!],
    type: replyLabelOf(kind, type),
    symbol: kind === ReplyKind.Page ? PAGE_SYMBOL : kind === ReplyKind.PageError ? undefined : symbol,
    isNew: type === ReplyType.New && (kind === ReplyKind.Quote || kind === ReplyKind.Page),
    page,
  };
}

/** The reply classes of docs/correlation.md, from a parsed reply payload the exporter accepts. */
export function classifyReply(msg: Record<string, unknown>): ReplyInfo {
  const type = typeof msg.type === 'string' ? msg.type : undefined;
  const symbol = typeof msg.symbol === 'string' && msg.symbol !== '' ? msg.symbol : undefined;
  return replyInfo(replyKindOf(type, msg.mode, msg.error, symbol !== undefined), type, symbol);
}

/**
 * A reply payload as the exporter counts it: undefined when it drops the message as invalid (not a
 * JSON object, a `type` that is not a string, a `symbol` that is not a usable one).
 */
export function classifyReplyPayload(payload: string): ReplyInfo | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return undefined;
  const o = msg as Record<string, unknown>;
  if (o.type !== undefined && typeof o.type !== 'string') return undefined;
  if (readSymbol(o.symbol) === false) return undefined;
  return classifyReply(o);
}

interface PendingRequest {
  t: number;
  symbol: string | null;
}

interface TimedOutRequest extends PendingRequest {
  charged: string;
  /** Last moment a reply still counts as late. */
  until: number;
}

class DeviceBook {
  /** In arrival order, so the first match is the oldest. */
  pending: PendingRequest[] = [];
  timedOut: TimedOutRequest[] = [];
  shown: string | undefined;
  bootOpen = false;
  lastUptime: number | undefined;
  bootCountedAt: number | undefined;
  /** When the latest heartbeat revealed a reboot counted from the uptime: the reboot's time. */
  uptimeRebootAt: number | undefined;
}

export type ReplyFate = 'in-time' | 'late' | 'boot' | 'unmatched';

/** A drop of `uptime` from this value or above is the firmware's millis() wrapping. */
export const UPTIME_WRAP_FLOOR_S = 4_294_000;

export function emptyOutcome(): Outcome {
  return { requests: 0, responses: 0, timeouts: 0, errors: 0, late: 0 };
}

function addInto(into: Outcome, o: Outcome): void {
  into.requests += o.requests;
  into.responses += o.responses;
  into.timeouts += o.timeouts;
  into.errors += o.errors;
  into.late += o.late;
}

function sortedRecord(map: Map<string, Outcome>): Record<string, Outcome> {
  const out: Record<string, Outcome> = {};
  for (const key of [...map.keys()].sort()) out[key] = { ...map.get(key)! };
  return out;
}

/**
 * Counts traffic with the exporter's rules, message by message, given the time each left. The
 * simulator feeds it everything it publishes; `replayTraffic` feeds it a capture.
 */
export class TruthLedger {
  messages = 0;
  reboots = 0;
  nonQuote = 0;
  unmatched = 0;
  /** Most requests one device had pending, and remembered after their timeout, at any time. */
  maxPending = 0;
  maxTimedOut = 0;
  private readonly books = new Map<string, DeviceBook>();
  private readonly counts = new Map<string, Outcome>();

  constructor(
    readonly timeoutMs = 10_000,
    readonly lateWindowMs = timeoutMs,
    readonly bootMessageDelayMs = 120_000,
  ) {}

  request(now: number, device: string, symbol: string | null): void {
    const b = this.book(device);
    this.expire(b, now);
    b.pending.push({ t: now, symbol });
    if (b.pending.length > this.maxPending) this.maxPending = b.pending.length;
    if (symbol !== null) this.outcome(symbol).requests++;
  }

  reply(now: number, device: string, r: ReplyInfo): ReplyFate {
    const b = this.book(device);
    this.expire(b, now);
    const bootWasOpen = b.bootOpen;
    b.bootOpen = false;

    let i = pick(b.pending, r);
    if (i >= 0) {
      const req = b.pending.splice(i, 1)[0]!;
      let charged: string;
      if (req.symbol !== null) {
        charged = req.symbol;
      } else {
        charged = r.cls === 'quote' ? r.symbol! : (r.symbol ?? b.shown ?? 'unknown');
        this.outcome(charged).requests++;
      }
      const o = this.outcome(charged);
      if (r.cls === 'quote') {
        o.responses++;
        if (req.symbol === null) b.shown = r.symbol;
      } else if (r.cls === 'error') {
        o.errors++;
      } else {
        this.nonQuote++;
      }
      return 'in-time';
    }

    i = pick(b.timedOut, r);
    if (i >= 0) {
      const req = b.timedOut.splice(i, 1)[0]!;
      this.outcome(req.charged).late++;
      if (r.cls === 'quote' && req.symbol === null) b.shown = r.symbol;
      return 'late';
    }

    if (bootWasOpen) {
      if (r.cls === 'quote') b.shown = r.symbol;
      return 'boot';
    }
    this.unmatched++;
    return 'unmatched';
  }

  /** A `TICKRMETERBOOT`; true when it counts as a reboot. */
  boot(now: number, device: string): boolean {
    const b = this.book(device);
    if (b.bootOpen) return false;
    b.bootOpen = true;
    if (b.uptimeRebootAt !== undefined && now - b.uptimeRebootAt <= this.bootMessageDelayMs) return false;
    this.reboots++;
    b.bootCountedAt = now;
    return true;
  }

  /** A heartbeat with its `uptime` in seconds (undefined when absent); true when it reveals a reboot. */
  heartbeat(now: number, device: string, uptimeS: number | undefined): boolean {
    if (uptimeS === undefined) return false;
    const b = this.book(device);
    const prev = b.lastUptime;
    b.lastUptime = uptimeS;
    if (prev !== undefined && uptimeS < prev && prev < UPTIME_WRAP_FLOOR_S) {
      const e = now - uptimeS * 1000;
      const tb = b.bootCountedAt;
      if (tb !== undefined && tb >= e - 2000 && tb <= e + this.bootMessageDelayMs) {
        b.uptimeRebootAt = undefined;
        return false;
      }
      this.reboots++;
      b.uptimeRebootAt = e;
      return true;
    }
    b.uptimeRebootAt = undefined;
    return false;
  }

  /** The device's shown symbol, as the exporter knows it now. */
  shown(device: string): string | undefined {
    return this.books.get(device)?.shown;
  }

  /** Requests of the device not yet answered nor timed out at `now`. */
  pendingCount(device: string, now: number): number {
    const b = this.books.get(device);
    if (!b) return 0;
    this.expire(b, now);
    return b.pending.length;
  }

  /** Arrival times of the device's requests still pending or inside their late window at `now`. */
  openRequestTimes(device: string, now: number): number[] {
    const b = this.books.get(device);
    if (!b) return [];
    this.expire(b, now);
    return [...b.timedOut.map((r) => r.t), ...b.pending.map((r) => r.t)];
  }

  /** Timed-out requests of the device still inside their late window at `now`. */
  rememberedCount(device: string, now: number): number {
    const b = this.books.get(device);
    if (!b) return 0;
    this.expire(b, now);
    return b.timedOut.length;
  }

  /**
   * The counts once every request still pending has timed out and every late window has closed,
   * as the exporter will count them when no further message arrives. Idempotent.
   */
  finalize(): Truth {
    for (const b of this.books.values()) this.expire(b, Number.POSITIVE_INFINITY);
    const streams = new Map<string, Outcome>();
    for (const [symbol, o] of this.counts) {
      const stream = streamOf(symbol);
      let s = streams.get(stream);
      if (!s) {
        s = emptyOutcome();
        streams.set(stream, s);
      }
      addInto(s, o);
    }
    return {
      messages: this.messages,
      symbols: sortedRecord(this.counts),
      streams: sortedRecord(streams),
      reboots: this.reboots,
      nonQuote: this.nonQuote,
      unmatched: this.unmatched,
    };
  }

  private book(device: string): DeviceBook {
    let b = this.books.get(device);
    if (!b) {
      b = new DeviceBook();
      this.books.set(device, b);
    }
    return b;
  }

  private outcome(symbol: string): Outcome {
    let o = this.counts.get(symbol);
    if (!o) {
      o = emptyOutcome();
      this.counts.set(symbol, o);
    }
    return o;
  }

  /** Times out what has waited `timeoutMs`, oldest first, then forgets what left its late window. */
  private expire(b: DeviceBook, now: number): void {
    const T = this.timeoutMs;
    while (b.pending.length > 0 && now - b.pending[0]!.t >= T) {
      const req = b.pending.shift()!;
      const charged = req.symbol ?? b.shown ?? 'unknown';
      const o = this.outcome(charged);
      if (req.symbol === null) o.requests++;
      o.timeouts++;
      b.timedOut.push({ t: req.t, symbol: req.symbol, charged, until: req.t + T + this.lateWindowMs });
      if (b.timedOut.length > this.maxTimedOut) this.maxTimedOut = b.timedOut.length;
    }
    while (b.timedOut.length > 0 && now > b.timedOut[0]!.until) b.timedOut.shift();
  }
}

function firstWith(list: readonly PendingRequest[], symbol: string | null): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.symbol === symbol) return i;
  return -1;
}

/**
 * The request a reply answers among `list` (oldest first), by the reply's class; -1 for none.
 * Index 0 is the oldest request of any symbol.
 */
function pick(list: readonly PendingRequest[], r: ReplyInfo): number {
  if (list.length === 0) return -1;
  let i: number;
  if (r.page) {
    i = firstWith(list, null);
    return Math.max(i, 0);
  }
  if (r.cls === 'quote') {
    const sym = r.symbol!;
    if (r.isNew) {
      i = firstWith(list, null);
      return i >= 0 ? i : firstWith(list, sym);
    }
    i = firstWith(list, sym);
    return i >= 0 ? i : firstWith(list, null);
  }
  if (r.symbol !== undefined) {
    i = firstWith(list, r.symbol);
    if (i < 0) i = firstWith(list, null);
    return Math.max(i, 0);
  }
  return 0;
}
