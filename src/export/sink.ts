/**
 * Where an exposition is rendered to. Families hand it their text in pieces of up to `BLOCK`
 * characters, built by plain concatenation as before.
 */
export interface TextSink {
  add(text: string): void;
}

/** Characters a family gathers before handing them over, so that no piece of text grows large. */
export const BLOCK = 64 * 1024;

/** The whole exposition as one string, for tests and embedders. */
export class StringSink implements TextSink {
  text = '';

  add(text: string): void {
    this.text += text;
  }
}

/**
 * The exposition as UTF-8 bytes in a buffer kept from one scrape to the next.
 *
 * Rendered as one string, a scrape at 20,000 symbols (32 MB of text) built a tree of over a
 * million string pieces, flattened it and copied it into a Buffer: three copies at once, all in
 * V8's old space, which grew by 150 MB and kept it. Here each block of text is encoded as soon
 * as it is complete and dies young; the bytes go to a buffer that is reused, so a steady
 * scrape allocates next to nothing.
 */
export class ExpositionBuffer implements TextSink {
  private buf: Buffer;
  private length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  add(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes of UTF-8 (a surrogate pair takes 4 for 2 units).
    const room = this.length + text.length * 3;
    if (room > this.buf.length) this.grow(room);
    this.length += this.buf.write(text, this.length, 'utf8');
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
      this.buf = Buffer.allocUnsafe(2 * Math.max(this.length, 32 * 1024));
    }
    this.length = 0;
  }

  private grow(atLeast: number): void {
    const next = Buffer.allocUnsafe(Math.max(atLeast, 2 * this.buf.length));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}
