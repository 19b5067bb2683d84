import { formatValue } from './format.js';

/**
 * A series' sample prefix (`name{labels} `) as a byte string: one UTF-16 code unit per UTF-8
 * byte. Prefixes are written with Latin-1 encoding, which copies code units as bytes with no
 * scan for multi-byte characters; a prefix that is pure ASCII (nearly all) is its own byte
 * string and costs nothing more.
 */
export function toByteString(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** Room for an integer's digits (at most 16 and a sign below 2^53) and a line feed. */
const MAX_VALUE_BYTES = 18;
const LINE_FEED = 10;
const MINUS = 45;
const ZERO = 48;
const COMMA = 44;
const QUOTE = 34;
const BACKSLASH = 92;
const LETTER_N = 110;
const CLOSE_BRACE = 125;

/**
 * Node's own Latin-1 writer, which `Buffer.prototype.write(text, offset, 'latin1')` reaches after
 * checking its arguments and looking up the encoding by name on every call: called directly, it
 * saved about 4 ms a scrape at 78,000 series in a CPU profile.
 */
interface LatinWriter extends Buffer {
  latin1Write(text: string, offset: number): number;
}

if (typeof (Buffer.prototype as Partial<LatinWriter>).latin1Write !== 'function') {
  throw new Error(`this Node.js (${process.version}) has no Buffer.prototype.latin1Write; use Node.js 20`);
}

function latinWriter(bytes: number): LatinWriter {
  return Buffer.allocUnsafe(bytes) as LatinWriter;
}

/**
 * The exposition as UTF-8 bytes in a buffer kept from one scrape to the next.
 *
 * A scrape writes each sample's pre-rendered prefix and its value straight into the buffer.
 * Built as strings and then encoded, 78,000 lines allocated about 16 MB in 20 ms, a burst that
 * V8 answers by growing its young generation. Integers (counts, counters, bucket totals: most samples) are written digit by digit, so a
 * scrape allocates only the text of its fractional values: about 0.5 MB at 78,000 lines.
 */
export class ExpositionBuffer {
  private buf: LatinWriter;
  private length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = latinWriter(initialBytes);
  }

  /** Any text, encoded as UTF-8: headers and the like, a few per family. */
  text(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair takes 4 for 2 units).
    this.reserve(text.length * 3);
    this.length += this.buf.write(text, this.length, 'utf8');
  }

  /** One sample line: its prefix as a byte string (see `toByteString`), then its value. */
  sample(prefix: string, value: number): void {
    this.reserve(prefix.length + MAX_VALUE_BYTES);
    this.length += this.buf.latin1Write(prefix, this.length);
    this.value(value);
  }

  /**
   * A histogram series' bucket lines: `open` (`name_bucket{labels,` as a byte string) and each of
   * the family's `le="…"} ` parts with the running total of `counts`. Returns the total. `open` is
   * encoded once; the lines after the first copy it from the first within the buffer, a native
   * copy instead of a call into Node per line.
   */
  buckets(open: string, les: readonly Uint8Array[], counts: Float64Array): number {
    const n = les.length;
    let room = n * (open.length + MAX_VALUE_BYTES);
    for (let i = 0; i < n; i++) room += les[i]!.length;
    this.reserve(room);
    const first = this.length;
    const openBytes = this.buf.latin1Write(open, first);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const buf = this.buf;
      let at = this.length;
      if (i > 0) buf.copyWithin(at, first, first + openBytes);
      at += openBytes;
      const le = les[i]!;
      for (let j = 0; j < le.length; j++) buf[at++] = le[j]!;
      this.length = at;
      total += counts[i]!;
      this.value(total);
    }
    return total;
  }

  // Protobuf primitives, for the delimited MetricFamily exposition (protobuf.ts). Lengths of
  // nested messages are not known before their content is written: `pbOpen` keeps one byte for
  // the length and `pbClose` writes it there, moving the content up in the rare case (a message of
  // 128 bytes or more) that the length needs more than one byte. Nothing is allocated.

  /** One byte: a field tag or a small value. */
  pbByte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  /** Bytes encoded beforehand (a family's name, help and type). */
  pbBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A base-128 varint of a non-negative integer below 2^53. */
  pbVarint(n: number): void {
    this.reserve(10);
    const buf = this.buf;
    let at = this.length;
    let q = n;
    while (q > 0x7fffffff) {
      buf[at++] = (q % 128) | 0x80;
      q = Math.floor(q / 128);
    }
    while (q >= 0x80) {
      buf[at++] = (q & 0x7f) | 0x80;
      q >>>= 7;
    }
    buf[at++] = q;
    this.length = at;
  }

  /** A signed integer (sint32, sint64) in ZigZag encoding, |n| below 2^52. */
  pbSigned(n: number): void {
    this.pbVarint(n >= 0 ? 2 * n : -2 * n - 1);
  }

  /** A double, little-endian. */
  pbDouble(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }

  /** Starts a length-delimited message; pass the result to `pbClose` once its content is written. */
  pbOpen(): number {
    this.reserve(1);
    return this.length++;
  }

  pbClose(at: number): void {
    const len = this.length - at - 1;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let extra = 1;
    for (let q = len >>> 14; q !== 0; q >>>= 7) extra++;
    this.reserve(extra);
    this.buf.copyWithin(at + 1 + extra, at + 1, this.length);
    const end = this.length + extra;
    this.length = at;
    this.pbVarint(len);
    this.length = end;
  }

  /**
   * The labels of a series as `Metric.label` fields (LabelPair messages), read from its text
   * sample prefix (`name{a="x",b="y"} ` as a byte string, see `toByteString`), whose values are
   * unescaped on the way: the text prefix already holds every byte a label needs.
   */
  pbLabels(prefix: string): void {
    const open = prefix.indexOf('{');
    if (open < 0) return;
    // Escapes only shrink, and each label's tags and lengths take at most 8 bytes more than its
    // `=""` and separator in text.
    this.reserve(2 * prefix.length + 32);
    let i = open + 1;
    const n = prefix.length;
    while (i < n) {
      const c = prefix.charCodeAt(i);
      if (c === CLOSE_BRACE) break;
      if (c === COMMA) {
        i++;
        continue;
      }
      const buf = this.buf;
      const eq = prefix.indexOf('=', i);
      buf[this.length++] = 0x0a; // Metric.label
      const pair = this.length++;
      buf[this.length++] = 0x0a; // LabelPair.name
      let nameLength = eq - i;
      while (nameLength >= 0x80) {
        buf[this.length++] = (nameLength & 0x7f) | 0x80;
        nameLength >>>= 7;
      }
      buf[this.length++] = nameLength;
      for (let k = i; k < eq; k++) buf[this.length++] = prefix.charCodeAt(k);
      buf[this.length++] = 0x12; // LabelPair.value
      const value = this.length++;
      i = eq + 2;
      for (;;) {
        let b = prefix.charCodeAt(i++);
        if (b === QUOTE) break;
        if (b === BACKSLASH) {
          b = prefix.charCodeAt(i++);
          if (b === LETTER_N) b = LINE_FEED;
        }
        buf[this.length++] = b;
      }
      this.pbCloseShort(value);
      this.pbCloseShort(pair);
    }
  }

  /** `pbClose` for content that was reserved room for by the caller (a label). */
  private pbCloseShort(at: number): void {
    const len = this.length - at - 1;
    if (len < 0x80) this.buf[at] = len;
    else this.pbClose(at);
  }

  /** The bytes written since the last `reset`, as a view: valid until the next `reset`. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /** Bytes the buffer holds, written or not. */
  get capacity(): number {
    return this.buf.length;
  }

  /**
   * Empties the buffer for the next render. One that holds over four times what the last
   * render needed gives the excess back, so a fleet that shrinks does not keep its peak.
   */
  reset(): void {
    if (this.buf.length > 4 * Math.max(this.length, 64 * 1024)) {
      this.buf = latinWriter(2 * Math.max(this.length, 32 * 1024));
    }
    this.length = 0;
  }

  /** The value and its line feed; room for an integer's is reserved by the caller. */
  private value(v: number): void {
    if (!Number.isSafeInteger(v)) {
      // Fractions, NaN, infinities, and integers too large to be exact: rare, and never many
      // bytes except above 1e21, whose every digit Prometheus asks for.
      const text = formatValue(v);
      this.reserve(text.length + 1);
      this.length += this.buf.latin1Write(text, this.length);
      this.buf[this.length++] = LINE_FEED;
      return;
    }
    const buf = this.buf;
    let at = this.length;
    let q = v;
    if (q < 0) {
      buf[at++] = MINUS;
      q = -q;
    }
    let digits = 1;
    for (let bound = 10; q >= bound; bound *= 10) digits++;
    at += digits;
    let k = at;
    if (q <= 0x7fffffff) {
      do {
        const next = (q / 10) | 0;
        buf[--k] = ZERO + (q - next * 10);
        q = next;
      } while (q !== 0);
    } else {
      // Beyond 32 bits, the same in doubles, exact below 2^53.
      do {
        const next = Math.floor(q / 10);
        buf[--k] = ZERO + (q - next * 10);
        q = next;
      } while (q !== 0);
    }
    buf[at] = LINE_FEED;
    this.length = at + 1;
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed > this.buf.length) {
      const next = latinWriter(Math.max(needed, 2 * this.buf.length));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
  }
}
