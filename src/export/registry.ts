import {
  escapeHelpOpenMetrics,
  escapeHelpText,
  escapeLabelValue,
  flatString,
  formatLe,
  isValidLabelName,
  isValidMetricName,
} from './format.js';
import {
  NativeBuckets,
  type NativeHistogramOptions,
  type NativeHistogramSnapshot,
  NativeLayout,
} from './native.js';
import type { ExpositionFormat } from './negotiate.js';
import { familyHeader, writeHistogram } from './protobuf.js';
import { ExpositionBuffer, toByteString } from './sink.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * A counter series. Keep the handle returned by `labels(...)` and call `inc()` on it: that is a comparison
 * and a field add, with no label hashing.
 */
export class Counter {
  /**
   * The running total. Code that mirrors a cumulative total kept elsewhere (CPU seconds, a device's own
   * counter) may assign it directly, as long as it never goes down.
   */
  value = 0;

  /** @internal */
  constructor(
    /** @internal `name_total{labels} `, identical in both formats, as a byte string (`toByteString`). */
    readonly prefix: string,
  ) {}

  inc(n = 1): void {
    // Also rejects NaN, which OpenMetrics forbids in a counter total.
    if (!(n >= 0)) throw new RangeError(`counter increment must be a non-negative number, got ${n}`);
    this.value += n;
  }
}

export class Gauge {
  value = 0;

  /** @internal */
  constructor(
    /** @internal */
    readonly prefix: string,
  ) {}

  set(v: number): void {
    this.value = v;
  }

  inc(n = 1): void {
    this.value += n;
  }

  dec(n = 1): void {
    this.value -= n;
  }
}

export interface HistogramSnapshot {
  /** Cumulative counts, one per bound of the family's `buckets` and a last one for +Inf. */
  buckets: number[];
  count: number;
  sum: number;
}

/** Above this many bounds a binary search beats the linear scan. */
const LINEAR_SCAN_MAX = 16;

export class Histogram {
  sum = 0;
  /** Per-bucket, non-cumulative counts; the last slot is +Inf. Cumulated only when rendered. */
  readonly counts: Float64Array;
  /** The native buckets, when the family keeps them (`HistogramOptions.native`) and they have started. */
  native: NativeBuckets | null;

  /** @internal */
  constructor(
    /** @internal */
    readonly bounds: Float64Array,
    /** @internal `name_bucket{labels,` or `name_bucket{` as a byte string: the `le` part is shared by the family. */
    readonly bucketOpen: string,
    /** @internal */
    readonly countPrefix: string,
    /** @internal */
    readonly sumPrefix: string,
    layout: NativeLayout | null,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
    this.native = layout === null ? null : new NativeBuckets(layout);
  }

  observe(v: number): void {
    // NaN compares false with every bound and would land in the first bucket.
    if (Number.isNaN(v)) throw new RangeError('histogram observation must not be NaN');
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    if (n <= LINEAR_SCAN_MAX) {
      while (i < n && v > bounds[i]!) i++;
    } else {
      let hi = n;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (v > bounds[mid]!) i = mid + 1;
        else hi = mid;
      }
    }
    this.counts[i]!++;
    this.sum += v;
    if (this.native !== null) this.native.observe(v);
  }

  /** @internal Starts the native buckets, empty, unless they run already. */
  startNative(layout: NativeLayout): void {
    if (this.native === null) this.native = new NativeBuckets(layout);
  }

  /** The native buckets, or undefined when the family keeps none. */
  nativeSnapshot(): NativeHistogramSnapshot | undefined {
    return this.native?.snapshot();
  }

  snapshot(): HistogramSnapshot {
    const buckets: number[] = [];
    let cum = 0;
    for (const c of this.counts) {
      cum += c;
      buckets.push(cum);
    }
    return { buckets, count: cum, sum: this.sum };
  }
}

type Series = Counter | Gauge | Histogram;

function labelKey(values: readonly string[]): string {
  if (values.length === 0) return '';
  if (values.length === 1) return values[0]!;
  // Length-prefixing makes the key injective whatever characters the values contain.
  let key = '';
  for (const v of values) key += v.length + ':' + v;
  return key;
}

/**
 * The label values a key was made from. Series do not keep their values: the key already holds
 * them, and an array per series is some 60 bytes times every series of every symbol.
 */
function labelValuesOf(key: string, arity: number): string[] {
  if (arity === 0) return [];
  if (arity === 1) return [key];
  const values: string[] = [];
  let i = 0;
  while (i < key.length) {
    const colon = key.indexOf(':', i);
    const len = Number(key.slice(i, colon));
    values.push(key.slice(colon + 1, colon + 1 + len));
    i = colon + 1 + len;
  }
  return values;
}

/** Base of the three family kinds: owns the label-tuple → handle map and the pre-rendered headers. */
abstract class Family<S extends Series> {
  /** Series in creation order, which is the order they render in. */
  protected readonly series = new Map<string, S>();
  protected single: S | undefined;
  /** @internal */
  readonly headerText: string;
  /** @internal */
  readonly headerOpenMetrics: string;
  /** @internal The MetricFamily's name, help and type fields, encoded. */
  readonly headerProtobuf: Uint8Array;

  constructor(
    readonly type: MetricType,
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    /** The name HELP and TYPE carry in OpenMetrics: for a counter, the name without `_total`. */
    readonly familyName: string,
  ) {
    const helpText = help === '' ? '' : `# HELP ${name} ${escapeHelpText(help)}\n`;
    this.headerText = `${helpText}# TYPE ${name} ${type}\n`;
    const helpOm = help === '' ? '' : `# HELP ${familyName} ${escapeHelpOpenMetrics(help)}\n`;
    // OpenMetrics asks for TYPE before HELP.
    this.headerOpenMetrics = `# TYPE ${familyName} ${type}\n${helpOm}`;
    this.headerProtobuf = familyHeader(name, help, type);
  }

  /**
   * The handle for one label-value tuple, created (and from then on rendered) on first use. Resolve it once
   * and keep it: this call builds a key and does a map lookup.
   */
  labels(...values: string[]): S {
    this.checkArity(values);
    const key = labelKey(values);
    let s = this.series.get(key);
    if (s === undefined) {
      let pairs = '';
      for (let i = 0; i < values.length; i++) {
        if (i > 0) pairs += ',';
        pairs += `${this.labelNames[i]}="${escapeLabelValue(values[i]!)}"`;
      }
      s = this.create(pairs);
      this.series.set(key, s);
      if (values.length === 0) this.single = s;
    }
    return s;
  }

  /** Drops one series; a handle still held for it keeps working but is no longer rendered. */
  remove(...values: string[]): boolean {
    this.checkArity(values);
    const key = labelKey(values);
    if (values.length === 0) this.single = undefined;
    return this.series.delete(key);
  }

  /** Drops every series, for families rebuilt from scratch in an `onCollect` hook (a top-N ranking). */
  reset(): void {
    this.series.clear();
    this.single = undefined;
  }

  /** Number of series held; a family that renders from the first count leaves out those at zero. */
  get size(): number {
    return this.series.size;
  }

  protected find(values: readonly string[]): S | undefined {
    this.checkArity(values);
    return this.series.get(labelKey(values));
  }

  /** Every series as its label values and its handle, in creation order. */
  protected *seriesWithValues(): Generator<[string[], S]> {
    const arity = this.labelNames.length;
    for (const [key, s] of this.series) yield [labelValuesOf(key, arity), s];
  }

  protected labelRecord(key: string): Record<string, string> {
    const values = labelValuesOf(key, this.labelNames.length);
    const out: Record<string, string> = {};
    for (let i = 0; i < values.length; i++) out[this.labelNames[i]!] = values[i]!;
    return out;
  }

  private checkArity(values: readonly string[]): void {
    if (values.length !== this.labelNames.length) {
      throw new Error(
        `${this.name} takes ${this.labelNames.length} label value(s) (${this.labelNames.join(', ')}), got ${values.length}`,
      );
    }
  }

  protected abstract create(pairs: string): S;

  /** @internal */
  abstract render(openMetrics: boolean, out: ExpositionBuffer): void;

  /** @internal One length-delimited MetricFamily message; none for a family without series. */
  renderProtobuf(out: ExpositionBuffer): void {
    if (this.series.size === 0) return;
    const at = out.pbOpen();
    out.pbBytes(this.headerProtobuf);
    this.renderProtobufMetrics(out);
    out.pbClose(at);
  }

  /** @internal */
  protected abstract renderProtobufMetrics(out: ExpositionBuffer): void;
}

/** A prefix a series keeps for life: flat, as a byte string. */
function keptPrefix(text: string): string {
  return toByteString(flatString(text));
}

function samplePrefix(name: string, pairs: string): string {
  return keptPrefix(pairs === '' ? `${name} ` : `${name}{${pairs}} `);
}

/** How a counter or gauge family renders, beyond its series. */
export interface ScalarOptions {
  /**
   * A series renders from its first non-zero value on: for counters of rare events kept per label
   * value (late replies of each symbol), which would otherwise be one series of zeros per symbol.
   */
  fromFirstCount?: boolean;
  /**
   * Rendered in the text formats only, not to protobuf scrapers: for figures that a protobuf
   * scraper reads from a native histogram instead (a window's quantiles).
   */
  textOnly?: boolean;
}

/** Counters and gauges: one value per series, read and rendered alike. */
abstract class ScalarFamily<S extends Counter | Gauge> extends Family<S> {
  private readonly fromFirstCount: boolean;
  private readonly textOnly: boolean;

  constructor(
    type: MetricType,
    name: string,
    help: string,
    labelNames: readonly string[],
    familyName: string,
    options: ScalarOptions,
  ) {
    super(type, name, help, labelNames, familyName);
    this.fromFirstCount = options.fromFirstCount === true;
    this.textOnly = options.textOnly === true;
  }

  get(...values: string[]): number | undefined {
    return this.find(values)?.value;
  }

  entries(): Array<{ labels: Record<string, string>; value: number }> {
    return Array.from(this.series, ([key, s]) => ({
      labels: this.labelRecord(key),
      value: s.value,
    }));
  }

  /** @internal */
  render(openMetrics: boolean, out: ExpositionBuffer): void {
    out.text(openMetrics ? this.headerOpenMetrics : this.headerText);
    for (const s of this.series.values()) {
      if (this.fromFirstCount && s.value === 0) continue;
      out.sample(s.prefix, s.value);
    }
  }

  /** @internal */
  override renderProtobuf(out: ExpositionBuffer): void {
    if (this.textOnly || (this.fromFirstCount && !this.anyCounted())) return;
    super.renderProtobuf(out);
  }

  private anyCounted(): boolean {
    for (const s of this.series.values()) if (s.value !== 0) return true;
    return false;
  }

  /** @internal Metric.counter (field 3) or Metric.gauge (field 2), each a message holding one double. */
  protected renderProtobufMetrics(out: ExpositionBuffer): void {
    const valueField = this.type === 'counter' ? 0x1a : 0x12;
    for (const s of this.series.values()) {
      if (this.fromFirstCount && s.value === 0) continue;
      out.pbByte(0x22); // MetricFamily.metric
      const at = out.pbOpen();
      out.pbLabels(s.prefix);
      out.pbByte(valueField);
      out.pbByte(9);
      out.pbByte(0x09); // Counter.value, Gauge.value
      out.pbDouble(s.value);
      out.pbClose(at);
    }
  }
}

export class CounterFamily extends ScalarFamily<Counter> {
  protected create(pairs: string): Counter {
    return new Counter(samplePrefix(this.name, pairs));
  }

  /** Shorthand for a family without labels. */
  inc(n = 1): void {
    (this.single ?? this.labels()).inc(n);
  }

  /** Every series' label values and total, for a process that saves its counters across a restart. */
  totals(): Array<[string[], number]> {
    return Array.from(this.seriesWithValues(), ([values, c]) => [values, c.value]);
  }

  /** Takes back what `totals` gave: each series is set to its saved total. */
  restoreTotals(totals: ReadonlyArray<readonly [readonly string[], number]>): void {
    for (const [values, v] of totals) {
      if (!(v >= 0))
        throw new RangeError(`${this.name}: a saved total must be a non-negative number, got ${v}`);
      this.labels(...values).value = v;
    }
  }
}

export class GaugeFamily extends ScalarFamily<Gauge> {
  protected create(pairs: string): Gauge {
    return new Gauge(samplePrefix(this.name, pairs));
  }

  /** Shorthands for a family without labels. */
  set(v: number): void {
    (this.single ?? this.labels()).set(v);
  }

  inc(n = 1): void {
    (this.single ?? this.labels()).inc(n);
  }

  dec(n = 1): void {
    (this.single ?? this.labels()).dec(n);
  }
}

export class HistogramFamily extends Family<Histogram> {
  /** Upper bounds as given, without +Inf. */
  readonly buckets: readonly number[];
  private readonly bounds: Float64Array;
  /** `le="0.005"} ` and so on, ending with `le="+Inf"} `, as bytes. */
  private readonly leParts: readonly Uint8Array[];
  /**
   * OpenMetrics forbids a sum (and therefore a count) on a histogram with negative bounds, since the sum is
   * then no longer a counter.
   */
  private readonly omitSumInOpenMetrics: boolean;

  /** The native bucket layout, when the family keeps native buckets. */
  readonly nativeLayout: NativeLayout | null;
  /** Which buckets the protobuf exposition carries (text formats always carry the classic ones). */
  readonly protobufBuckets: ProtobufBuckets;
  /** Whether the series keep native buckets now; from the start unless `nativeFrom` says otherwise. */
  private nativeRunning: boolean;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    options: HistogramOptions = {},
  ) {
    super('histogram', name, help, labelNames, name);
    this.nativeLayout = options.native === undefined ? null : new NativeLayout(options.native);
    this.protobufBuckets = options.protobufBuckets ?? (options.native === undefined ? 'classic' : 'native');
    if (this.protobufBuckets !== 'classic' && this.nativeLayout === null) {
      throw new Error(`${name}: protobufBuckets ${this.protobufBuckets} needs native histogram options`);
    }
    if (options.nativeFrom === 'protobuf-scrape' && this.protobufBuckets !== 'native') {
      throw new Error(
        `${name}: native buckets can start at the first protobuf scrape only without classic ones there`,
      );
    }
    this.nativeRunning = this.nativeLayout !== null && options.nativeFrom !== 'protobuf-scrape';
    const bounds = buckets.slice();
    if (bounds.length > 0 && bounds[bounds.length - 1] === Number.POSITIVE_INFINITY) bounds.pop();
    for (let i = 0; i < bounds.length; i++) {
      const b = bounds[i]!;
      if (typeof b !== 'number' || !Number.isFinite(b)) {
        throw new Error(`${name}: bucket bound ${b} must be a finite number (+Inf is implicit)`);
      }
      if (i > 0 && !(b > bounds[i - 1]!)) {
        throw new Error(`${name}: bucket bounds must be strictly increasing, got ${bounds[i - 1]} then ${b}`);
      }
    }
    this.buckets = Object.freeze(bounds);
    this.bounds = Float64Array.from(bounds);
    this.leParts = Object.freeze(
      [...bounds.map((b) => `le="${formatLe(b)}"} `), 'le="+Inf"} '].map((le) => Buffer.from(le, 'latin1')),
    );
    this.omitSumInOpenMetrics = bounds.length > 0 && bounds[0]! < 0;
  }

  protected create(pairs: string): Histogram {
    const name = this.name;
    return new Histogram(
      this.bounds,
      keptPrefix(pairs === '' ? `${name}_bucket{` : `${name}_bucket{${pairs},`),
      samplePrefix(`${name}_count`, pairs),
      samplePrefix(`${name}_sum`, pairs),
      this.nativeRunning ? this.nativeLayout : null,
    );
  }

  /** Starts the native buckets of every series, empty, if they are not running yet. */
  private startNative(): void {
    if (this.nativeRunning || this.nativeLayout === null) return;
    this.nativeRunning = true;
    for (const s of this.series.values()) s.startNative(this.nativeLayout);
  }

  /** Shorthand for a family without labels. */
  observe(v: number): void {
    (this.single ?? this.labels()).observe(v);
  }

  get(...values: string[]): HistogramSnapshot | undefined {
    return this.find(values)?.snapshot();
  }

  /** Every series' label values, per-bucket counts (not cumulated, +Inf last) and sum, to save across a restart. */
  totals(): Array<[string[], number[], number]> {
    return Array.from(this.seriesWithValues(), ([values, h]) => [values, Array.from(h.counts), h.sum]);
  }

  /** Takes back what `totals` gave; a series saved with other buckets is refused. */
  restoreTotals(totals: ReadonlyArray<readonly [readonly string[], readonly number[], number]>): void {
    for (const [values, counts, sum] of totals) {
      if (counts.length !== this.bounds.length + 1)
        throw new RangeError(
          `${this.name}: saved with ${counts.length - 1} buckets, now ${this.bounds.length}`,
        );
      const h = this.labels(...values);
      for (let i = 0; i < counts.length; i++) h.counts[i] = counts[i]!;
      h.sum = sum;
    }
  }

  entries(): Array<{ labels: Record<string, string> } & HistogramSnapshot> {
    return Array.from(this.series, ([key, s]) => ({
      labels: this.labelRecord(key),
      ...s.snapshot(),
    }));
  }

  /** @internal */
  render(openMetrics: boolean, out: ExpositionBuffer): void {
    out.text(openMetrics ? this.headerOpenMetrics : this.headerText);
    const leParts = this.leParts;
    const withSum = !(openMetrics && this.omitSumInOpenMetrics);
    for (const s of this.series.values()) {
      const count = out.buckets(s.bucketOpen, leParts, s.counts);
      if (withSum) {
        out.sample(s.countPrefix, count);
        out.sample(s.sumPrefix, s.sum);
      }
    }
  }

  /** @internal */
  protected renderProtobufMetrics(out: ExpositionBuffer): void {
    const classic = this.protobufBuckets !== 'native';
    const native = this.protobufBuckets !== 'classic';
    if (native) this.startNative();
    for (const s of this.series.values()) writeHistogram(out, s, classic, native);
  }
}

/** What the protobuf exposition carries of a histogram: its classic buckets, its native ones, or both. */
export type ProtobufBuckets = 'classic' | 'native' | 'both';

export interface HistogramOptions {
  /** Keep native buckets beside the classic ones (see native.ts). */
  native?: NativeHistogramOptions;
  /** Default: `native` with native options, else `classic`. */
  protobufBuckets?: ProtobufBuckets;
  /**
   * When the native buckets start: with the series (default), or at the first protobuf scrape
   * (`protobuf-scrape`, with `protobufBuckets: native` only), so that an exporter only ever scraped
   * as text keeps none. Buckets started late count from then on, with a count and sum of their own.
   */
  nativeFrom?: 'series' | 'protobuf-scrape';
}

type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;

export class Registry {
  private readonly families: AnyFamily[] = [];
  private readonly byName = new Map<string, AnyFamily>();
  /** Every sample and family name a registered family can emit in either format → that family's name. */
  private readonly taken = new Map<string, string>();
  private readonly collectors: Array<() => void> = [];

  /** `name` carries the `_total` suffix, as the samples do in both formats. */
  counter(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: ScalarOptions = {},
  ): CounterFamily {
    if (!name.endsWith('_total') || name.length === '_total'.length) {
      throw new Error(`counter name ${JSON.stringify(name)} must end with _total`);
    }
    const base = name.slice(0, -'_total'.length);
    this.claim(name, labelNames, [name, base, `${base}_created`]);
    return this.add(
      new CounterFamily('counter', name, help, Object.freeze(labelNames.slice()), base, options),
    );
  }

  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: ScalarOptions = {},
  ): GaugeFamily {
    this.claim(name, labelNames, [name]);
    return this.add(new GaugeFamily('gauge', name, help, Object.freeze(labelNames.slice()), name, options));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    options: HistogramOptions = {},
  ): HistogramFamily {
    if (labelNames.includes('le')) throw new Error(`histogram ${name} must not have a label named le`);
    this.claim(name, labelNames, [name, `${name}_bucket`, `${name}_count`, `${name}_sum`, `${name}_created`]);
    return this.add(new HistogramFamily(name, help, Object.freeze(labelNames.slice()), buckets, options));
  }

  /**
   * Runs synchronously at the start of every render, in registration order, to refresh gauges. An exception
   * propagates out of `render`, failing that scrape rather than serving half-refreshed values.
   */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** The family registered under this name (counters by their `_total` name). */
  getFamily(name: string): AnyFamily | undefined {
    return this.byName.get(name);
  }

  /** Families in registration order, which is the order they render in. */
  listFamilies(): readonly AnyFamily[] {
    return this.families;
  }

  /** The whole exposition as a string, for tests and embedders, in one of the text formats. */
  render(format: 'text' | 'openmetrics'): string {
    return this.renderBytes(format).toString('utf8');
  }

  /** The whole exposition as bytes of its own (protobuf included), for tests and embedders. */
  renderBytes(format: ExpositionFormat): Buffer {
    const out = new ExpositionBuffer();
    this.renderTo(format, out);
    return Buffer.from(out.bytes());
  }

  /**
   * The exposition as bytes written into `out` (UTF-8 text, or length-delimited MetricFamily
   * messages), for HTTP. Collectors run first, as for `render`.
   */
  renderTo(format: ExpositionFormat, out: ExpositionBuffer): void {
    for (const fn of this.collectors) fn();
    if (format === 'protobuf') {
      for (const f of this.families) f.renderProtobuf(out);
      return;
    }
    const openMetrics = format === 'openmetrics';
    for (const f of this.families) f.render(openMetrics, out);
    if (openMetrics) out.text('# EOF\n');
  }

  private claim(name: string, labelNames: readonly string[], emitted: readonly string[]): void {
    if (!isValidMetricName(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    const seen = new Set<string>();
    for (const l of labelNames) {
      if (!isValidLabelName(l)) throw new Error(`${name}: invalid label name ${JSON.stringify(l)}`);
      if (seen.has(l)) throw new Error(`${name}: duplicate label name ${JSON.stringify(l)}`);
      seen.add(l);
    }
    for (const n of emitted) {
      const owner = this.taken.get(n);
      if (owner === undefined) continue;
      throw new Error(
        owner === name
          ? `metric ${name} is already registered`
          : `metric ${name} clashes with ${owner} over the name ${n}`,
      );
    }
    for (const n of emitted) this.taken.set(n, name);
  }

  private add<F extends AnyFamily>(family: F): F {
    this.families.push(family);
    this.byName.set(family.name, family);
    // A family without labels has exactly one series; it exists (and renders as 0) from registration on.
    if (family.labelNames.length === 0) family.labels();
    return family;
  }
}
