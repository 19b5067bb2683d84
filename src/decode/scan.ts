import {
  DEVICE_FIELDS,
  FIELDS,
  type FieldName,
  HEARTBEAT_FIELDS,
  REPLY_FIELDS,
  REQUEST_FIELDS,
} from '../protocol/index.js';

/**
 * Reads the few top-level fields the decoder uses straight from a payload's bytes, without building
 * the whole object: `JSON.parse` plus the UTF-8 decode before it were the largest cost per message and
 * most of the garbage. The scanner validates the complete text against the JSON grammar, so whatever
 * it accepts `JSON.parse` accepts too, and each field it returns holds exactly the value `JSON.parse`
 * would have produced. It declines (returns undefined) on anything it does not vouch for: invalid
 * text, a top level that is not an object, an escaped key, deep nesting. The caller then takes the
 * `JSON.parse` path, which decides the error, so the outcome never depends on which path ran.
 */

/**
 * The top-level fields any decoder reads (the protocol's `FIELDS`). Objects and arrays are only ever
 * tested by type, not read.
 */
export type ScannedFields = { [K in FieldName]: unknown };

type Key = FieldName;

const KEYS: readonly Key[] = FIELDS;
const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));
const bits = (keys: readonly Key[]) => keys.reduce((m, k) => m | (1 << KEYS.indexOf(k)), 0);
/** The keys each decoder reads; only those are matched and turned into values. */
export const REQUEST_KEYS = bits(REQUEST_FIELDS);
export const REPLY_KEYS = bits(REPLY_FIELDS);
export const HEARTBEAT_KEYS = bits(HEARTBEAT_FIELDS);
export const DEVICE_KEYS = bits(DEVICE_FIELDS);

// Slot of each field, for `materialize`, which must store by name.
const TYPE = KEYS.indexOf('type');
const DEVICE = KEYS.indexOf('device');
const SYMBOL = KEYS.indexOf('symbol');
const MODE = KEYS.indexOf('mode');
const ERROR = KEYS.indexOf('error');
const INTERVAL = KEYS.indexOf('interval');
const UPDATE_INTERVAL = KEYS.indexOf('updateInterval');
const FIRMWARE_VERSION = KEYS.indexOf('firmware_version');
const IV = KEYS.indexOf('iv');
const FLASH_ID = KEYS.indexOf('flashID');
const BATTERY = KEYS.indexOf('battery');
const VIN = KEYS.indexOf('vin');
const UPTIME = KEYS.indexOf('uptime');
const WFLCT = KEYS.indexOf('wflct');
const XMC = KEYS.indexOf('xmc');
const IS_CHARGING = KEYS.indexOf('isCharging');

/** Indices into KEYS by key length, so a key is compared with at most three candidates. */
const BY_LENGTH: number[][] = [];
for (let i = 0; i < KEYS.length; i++) {
  const len = KEYS[i]!.length;
  BY_LENGTH[len] = [...(BY_LENGTH[len] ?? []), i];
}

// Kinds of the value recorded for a key.
const ABSENT = 0;
const STRING = 1;
const NUMBER = 2;
const TRUE = 3;
const FALSE = 4;
const NULL = 5;
const CONTAINER = 6;

// String flags.
const ESCAPED = 1;
const NON_ASCII = 2;

/** Stands for any object or array value: the decoders only test such a value's type. */
const CONTAINER_VALUE: Readonly<object> = Object.freeze({});

/** Nesting beyond this is left to JSON.parse. */
const MAX_DEPTH = 32;

/**
 * Strings the fleet repeats all day (device ids, symbols, types, the small numbers heartbeats carry as
 * text) come from a table indexed by a hash of their bytes, so a message usually allocates none. The
 * table is bounded; a miss just builds the string and takes the slot.
 */
const INTERN_BITS = 15;
const interned: (string | undefined)[] = new Array(1 << INTERN_BITS).fill(undefined);

interface Latin1 {
  latin1Slice(start: number, end: number): string;
}

function intern(b: Buffer, s: number, e: number): string {
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  const slot = (h ^ (h >>> INTERN_BITS)) & ((1 << INTERN_BITS) - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === e - s) {
    let same = true;
    for (let i = 0; i < known.length; i++) {
      if (known.charCodeAt(i) !== b[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return known;
  }
  const made = (b as unknown as Latin1).latin1Slice(s, e);
  interned[slot] = made;
  return made;
}

class Scanner {
  b: Buffer = Buffer.alloc(0);
  p = 0;
  n = 0;
  /** Flags of the last string scanned. */
  flags = 0;
  /** Bit i set: KEYS[i] is wanted. */
  wanted = 0;
  readonly kind = new Uint8Array(KEYS.length);
  readonly start = new Int32Array(KEYS.length);
  readonly end = new Int32Array(KEYS.length);
  readonly strFlags = new Uint8Array(KEYS.length);
  readonly fields: ScannedFields = {
    type: undefined,
    device: undefined,
    symbol: undefined,
    mode: undefined,
    error: undefined,
    interval: undefined,
    updateInterval: undefined,
    firmware_version: undefined,
    iv: undefined,
    flashID: undefined,
    battery: undefined,
    vin: undefined,
    uptime: undefined,
    wflct: undefined,
    xmc: undefined,
    isCharging: undefined,
  };

  scan(b: Buffer, wanted: number): ScannedFields | undefined {
    this.b = b;
    this.wanted = wanted;
    this.n = b.length;
    this.p = 0;
    this.kind.fill(ABSENT);
    this.ws();
    if (this.p >= this.n || b[this.p] !== 0x7b) return undefined;
    if (!this.object(1)) return undefined;
    this.ws();
    if (this.p !== this.n) return undefined;
    return this.materialize();
  }

  private ws(): void {
    const b = this.b;
    let p = this.p;
    const n = this.n;
    while (p < n) {
      const c = b[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.p = p;
  }

  /** At '{'. Records the values of wanted keys when `depth` is 1. */
  private object(depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const b = this.b;
    this.p++;
    this.ws();
    if (this.p < this.n && b[this.p] === 0x7d) {
      this.p++;
      return true;
    }
    for (;;) {
      if (this.p >= this.n || b[this.p] !== 0x22) return false;
      const keyStart = this.p + 1;
      if (!this.string()) return false;
      const keyEnd = this.p - 1;
      let slot = -1;
      if (depth === 1) {
        // An escaped key may spell a wanted one: left to JSON.parse.
        if ((this.flags & ESCAPED) !== 0) return false;
        slot = this.match(keyStart, keyEnd);
      }
      this.ws();
      if (this.p >= this.n || b[this.p] !== 0x3a) return false;
      this.p++;
      this.ws();
      if (!this.value(depth, slot)) return false;
      this.ws();
      if (this.p >= this.n) return false;
      const c = b[this.p];
      this.p++;
      if (c === 0x7d) return true;
      if (c !== 0x2c) return false;
      this.ws();
    }
  }

  private array(depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const b = this.b;
    this.p++;
    this.ws();
    if (this.p < this.n && b[this.p] === 0x5d) {
      this.p++;
      return true;
    }
    for (;;) {
      if (!this.value(depth, -1)) return false;
      this.ws();
      if (this.p >= this.n) return false;
      const c = b[this.p];
      this.p++;
      if (c === 0x5d) return true;
      if (c !== 0x2c) return false;
      this.ws();
    }
  }

  /** One value of an object at `depth` (or of an array); `slot` >= 0 records it. */
  private value(depth: number, slot: number): boolean {
    if (this.p >= this.n) return false;
    const b = this.b;
    const c = b[this.p]!;
    const from = this.p;
    let kind: number;
    if (c === 0x22) {
      if (!this.string()) return false;
      kind = STRING;
    } else if (c === 0x7b) {
      if (!this.object(depth + 1)) return false;
      kind = CONTAINER;
    } else if (c === 0x5b) {
      if (!this.array(depth + 1)) return false;
      kind = CONTAINER;
    } else if (c === 0x74) {
      if (!this.literal(0x74, 0x72, 0x75, 0x65)) return false;
      kind = TRUE;
    } else if (c === 0x66) {
      if (!this.literal(0x61, 0x6c, 0x73, 0x65, 1)) return false;
      kind = FALSE;
    } else if (c === 0x6e) {
      if (!this.literal(0x6e, 0x75, 0x6c, 0x6c)) return false;
      kind = NULL;
    } else {
      if (!this.number()) return false;
      kind = NUMBER;
    }
    if (slot >= 0) {
      // Duplicate keys: the last one wins, as with JSON.parse.
      this.kind[slot] = kind;
      if (kind === STRING) {
        this.start[slot] = from + 1;
        this.end[slot] = this.p - 1;
        this.strFlags[slot] = this.flags;
      } else {
        this.start[slot] = from;
        this.end[slot] = this.p;
      }
    }
    return true;
  }

  /** Four bytes at `p + skip`: `false` is its `f`, already seen, and these four. */
  private literal(c0: number, c1: number, c2: number, c3: number, skip = 0): boolean {
    const b = this.b;
    const p = this.p + skip;
    if (p + 4 > this.n || b[p] !== c0 || b[p + 1] !== c1 || b[p + 2] !== c2 || b[p + 3] !== c3) return false;
    this.p = p + 4;
    return true;
  }

  /** At '"'; leaves `p` after the closing quote and the string's flags in `flags`. */
  private string(): boolean {
    const b = this.b;
    const n = this.n;
    let p = this.p + 1;
    let flags = 0;
    for (;;) {
      if (p >= n) return false;
      const c = b[p]!;
      if (c === 0x22) break;
      if (c < 0x20) return false;
      if (c === 0x5c) {
        flags |= ESCAPED;
        if (p + 1 >= n) return false;
        const e = b[p + 1]!;
        if (e === 0x75) {
          if (p + 6 > n) return false;
          for (let k = p + 2; k < p + 6; k++) if (!isHex(b[k]!)) return false;
          p += 6;
          continue;
        }
        if (
          e !== 0x22 &&
          e !== 0x5c &&
          e !== 0x2f &&
          e !== 0x62 &&
          e !== 0x66 &&
          e !== 0x6e &&
          e !== 0x72 &&
          e !== 0x74
        ) {
          return false;
        }
        p += 2;
        continue;
      }
      if (c >= 0x80) flags |= NON_ASCII;
      p++;
    }
    this.p = p + 1;
    this.flags = flags;
    return true;
  }

  /** The JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(): boolean {
    const b = this.b;
    const n = this.n;
    let p = this.p;
    if (b[p] === 0x2d) p++;
    if (p >= n) return false;
    if (b[p] === 0x30) {
      p++;
    } else if (b[p]! >= 0x31 && b[p]! <= 0x39) {
      while (p < n && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
    } else {
      return false;
    }
    if (p < n && b[p] === 0x2e) {
      p++;
      const digits = p;
      while (p < n && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
      if (p === digits) return false;
    }
    if (p < n && (b[p] === 0x65 || b[p] === 0x45)) {
      p++;
      if (p < n && (b[p] === 0x2b || b[p] === 0x2d)) p++;
      const digits = p;
      while (p < n && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
      if (p === digits) return false;
    }
    this.p = p;
    return true;
  }

  private match(from: number, to: number): number {
    const len = to - from;
    const candidates = BY_LENGTH[len];
    if (candidates === undefined) return -1;
    const b = this.b;
    for (const i of candidates) {
      if (((this.wanted >> i) & 1) === 0) continue;
      const k = KEY_BYTES[i]!;
      let same = true;
      for (let j = 0; j < len; j++) {
        if (b[from + j] !== k[j]) {
          same = false;
          break;
        }
      }
      if (same) return i;
    }
    return -1;
  }

  /** Turns the recorded slots into the values JSON.parse would have given those keys. */
  private materialize(): ScannedFields {
    // Stores by name: a computed key here made every store a generic one, slower than the scan itself.
    // Keys the decoder at hand does not read are left undefined, not turned into values.
    const f = this.fields;
    const w = this.wanted;
    f.type = (w >> TYPE) & 1 ? this.valueOf(TYPE) : undefined;
    f.device = (w >> DEVICE) & 1 ? this.valueOf(DEVICE) : undefined;
    f.symbol = (w >> SYMBOL) & 1 ? this.valueOf(SYMBOL) : undefined;
    f.mode = (w >> MODE) & 1 ? this.valueOf(MODE) : undefined;
    f.error = (w >> ERROR) & 1 ? this.valueOf(ERROR) : undefined;
    f.interval = (w >> INTERVAL) & 1 ? this.valueOf(INTERVAL) : undefined;
    f.updateInterval = (w >> UPDATE_INTERVAL) & 1 ? this.valueOf(UPDATE_INTERVAL) : undefined;
    f.firmware_version = (w >> FIRMWARE_VERSION) & 1 ? this.valueOf(FIRMWARE_VERSION) : undefined;
    f.iv = (w >> IV) & 1 ? this.valueOf(IV) : undefined;
    f.flashID = (w >> FLASH_ID) & 1 ? this.valueOf(FLASH_ID) : undefined;
    f.battery = (w >> BATTERY) & 1 ? this.valueOf(BATTERY) : undefined;
    f.vin = (w >> VIN) & 1 ? this.valueOf(VIN) : undefined;
    f.uptime = (w >> UPTIME) & 1 ? this.valueOf(UPTIME) : undefined;
    f.wflct = (w >> WFLCT) & 1 ? this.valueOf(WFLCT) : undefined;
    f.xmc = (w >> XMC) & 1 ? this.valueOf(XMC) : undefined;
    f.isCharging = (w >> IS_CHARGING) & 1 ? this.valueOf(IS_CHARGING) : undefined;
    return f;
  }

  private valueOf(i: number): unknown {
    const b = this.b;
    switch (this.kind[i]) {
      case ABSENT:
        return undefined;
      case STRING: {
        const s = this.start[i]!;
        const e = this.end[i]!;
        const flags = this.strFlags[i]!;
        if (flags === 0) return intern(b, s, e);
        // One JSON string token parses to the same string inside or outside its object; its bounds are
        // quote bytes, which no UTF-8 sequence spans, so decoding the slice decodes the same characters.
        if ((flags & ESCAPED) !== 0) return JSON.parse(b.toString('utf8', s - 1, e + 1)) as string;
        return b.toString('utf8', s, e);
      }
      case NUMBER:
        return numberToken(b, this.start[i]!, this.end[i]!);
      case TRUE:
        return true;
      case FALSE:
        return false;
      case NULL:
        return null;
      default:
        return CONTAINER_VALUE;
    }
  }
}

/** JSON.parse converts a number token as Number() does; a short integer is read without the string. */
function numberToken(b: Buffer, s: number, e: number): number {
  const negative = b[s] === 0x2d;
  let i = negative ? s + 1 : s;
  if (e - i <= 15) {
    let n = 0;
    for (; i < e; i++) {
      const d = b[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    // Below 1e15 every step is exact, so this is the double Number() gives; -0 stays -0.
    if (i === e) return negative ? -n : n;
  }
  return Number((b as unknown as Latin1).latin1Slice(s, e));
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

const scanner = new Scanner();

/**
 * The `wanted` top-level fields of `payload` (a mask such as REPLY_KEYS; the others read undefined), or
 * undefined when the scanner leaves the payload to JSON.parse. The object returned is reused by the
 * next call.
 */
export function scanFields(payload: Buffer, wanted: number): ScannedFields | undefined {
  return scanner.scan(payload, wanted);
}
