export { escapeLabelValue, formatLe, formatValue, isValidLabelName, isValidMetricName } from './format.js';
export {
  contentTypeOf,
  type ExpositionFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  PROTOBUF_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from './negotiate.js';
export type { NativeHistogramOptions, NativeHistogramSnapshot } from './native.js';
export { registerProcessMetrics } from './process.js';
export {
  Counter,
  CounterFamily,
  Gauge,
  GaugeFamily,
  Histogram,
  HistogramFamily,
  type HistogramOptions,
  type HistogramSnapshot,
  type MetricType,
  type ProtobufBuckets,
  Registry,
  type ScalarOptions,
} from './registry.js';
export { ExpositionBuffer } from './sink.js';
