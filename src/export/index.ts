export { escapeLabelValue, formatLe, formatValue, isValidLabelName, isValidMetricName } from './format.js';
export {
  contentTypeOf,
  type ExpositionFormat,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from './negotiate.js';
export { registerProcessMetrics } from './process.js';
export {
  Counter,
  CounterFamily,
  Gauge,
  GaugeFamily,
  Histogram,
  HistogramFamily,
  type HistogramSnapshot,
  type MetricType,
  Registry,
} from './registry.js';
export { ExpositionBuffer } from './sink.js';
