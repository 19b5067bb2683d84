/**
 * The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily` messages
 * (client_model's metrics.proto, a copy in test/fixtures/metrics.proto), written by hand into
 * the reused ExpositionBuffer: field tags as bytes, varints and doubles, no message objects.
 * Field numbers are those of metrics.proto; repeated scalars are written unpacked, as Prometheus'
 * Go client writes them.
 */
import { MAX_GAP_IN_SPAN } from './native.js';
import type { Histogram, MetricType } from './registry.js';
import type { ExpositionBuffer } from './sink.js';

const TYPE_NUMBER: Record<MetricType, number> = { counter: 0, gauge: 1, histogram: 4 };

function varint(n: number): number[] {
  const out: number[] = [];
  let q = n;
  while (q >= 0x80) {
    out.push((q & 0x7f) | 0x80);
    q >>>= 7;
  }
  out.push(q);
  return out;
}

function stringField(field: number, text: string): number[] {
  const bytes = Buffer.from(text, 'utf8');
  return [(field << 3) | 2, ...varint(bytes.length), ...bytes];
}

/** MetricFamily.name (1), .help (2) and .type (3), encoded once per family. */
export function familyHeader(name: string, help: string, type: MetricType): Uint8Array {
  return Uint8Array.from([
    ...stringField(1, name),
    ...(help === '' ? [] : stringField(2, help)),
    0x18,
    TYPE_NUMBER[type],
  ]);
}

function varintSize(n: number): number {
  let size = 1;
  for (let q = n; q >= 0x80; q = Math.floor(q / 128)) size++;
  return size;
}

/**
 * One Metric (MetricFamily field 4) holding a Histogram (Metric field 7): count and sum, then the
 * classic buckets (cumulative, +Inf left out: it is the count) and/or the native ones (schema,
 * zero threshold and count, spans, then the deltas of the span buckets' counts).
 */
export function writeHistogram(out: ExpositionBuffer, s: Histogram, classic: boolean, native: boolean): void {
  out.pbByte(0x22);
  const metric = out.pbOpen();
  out.pbLabels(s.countPrefix);
  out.pbByte(0x3a);
  const hist = out.pbOpen();
  const counts = s.counts;
  const nb = s.native;
  // Native buckets alone carry their own count and sum: they may have started after the classic ones.
  const nativeOnly = native && !classic && nb !== null;
  let count = 0;
  if (nativeOnly) count = nb.count;
  else for (let i = 0; i < counts.length; i++) count += counts[i]!;
  out.pbByte(0x08); // sample_count
  out.pbVarint(count);
  out.pbByte(0x11); // sample_sum
  out.pbDouble(nativeOnly ? nb.sum : s.sum);
  if (classic) {
    const bounds = s.bounds;
    let cum = 0;
    for (let i = 0; i < bounds.length; i++) {
      cum += counts[i]!;
      out.pbByte(0x1a); // bucket
      out.pbByte(1 + varintSize(cum) + 9);
      out.pbByte(0x08); // cumulative_count
      out.pbVarint(cum);
      out.pbByte(0x11); // upper_bound
      out.pbDouble(bounds[i]!);
    }
  }
  if (native && nb !== null) {
    out.pbByte(0x28); // schema
    out.pbSigned(nb.layout.schema);
    out.pbByte(0x31); // zero_threshold
    out.pbDouble(nb.layout.zeroThreshold);
    out.pbByte(0x38); // zero_count
    out.pbVarint(nb.zeroCount);
    const c = nb.counts;
    const first = nb.first;
    const n = c.length;
    // Spans: runs of non-empty buckets, gaps of up to MAX_GAP_IN_SPAN kept inside as zeros.
    let start = -1;
    let last = -1;
    let prevEnd = 0;
    for (let j = 0; j < n; j++) {
      if (c[j] === 0) continue;
      if (start < 0) {
        start = j;
      } else if (j - last - 1 > MAX_GAP_IN_SPAN) {
        writeSpan(out, first + start - prevEnd, last - start + 1);
        prevEnd = first + last + 1;
        start = j;
      }
      last = j;
    }
    if (start >= 0) writeSpan(out, first + start - prevEnd, last - start + 1);
    // Deltas, bucket by bucket through the spans, each from the one before (from 0 for the first).
    let prev = 0;
    last = -1;
    for (let j = 0; j < n; j++) {
      const v = c[j]!;
      if (v === 0) continue;
      if (last >= 0 && j - last - 1 <= MAX_GAP_IN_SPAN) {
        for (let k = last + 1; k < j; k++) {
          out.pbByte(0x68); // positive_delta
          out.pbSigned(-prev);
          prev = 0;
        }
      }
      out.pbByte(0x68);
      out.pbSigned(v - prev);
      prev = v;
      last = j;
    }
  }
  out.pbClose(hist);
  out.pbClose(metric);
}

/** Histogram.positive_span (12): a BucketSpan of offset (sint32) and length (uint32). */
function writeSpan(out: ExpositionBuffer, offset: number, length: number): void {
  out.pbByte(0x62);
  const at = out.pbOpen();
  out.pbByte(0x08);
  out.pbSigned(offset);
  out.pbByte(0x10);
  out.pbVarint(length);
  out.pbClose(at);
}
