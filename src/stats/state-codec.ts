/** Typed arrays in state snapshots. */

/** A typed array's bytes as base64 (platform byte order: a snapshot is read back on the same kind of machine). */
export function encode(a: ArrayBufferView): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** The bytes of `encode`, copied into an aligned buffer of whole elements of `size` bytes. */
export function decode(text: string, size: number): ArrayBuffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % size !== 0)
    throw new RangeError(`state array of ${bytes.length} bytes is not made of ${size}-byte elements`);
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}
