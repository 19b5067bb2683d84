/**
 * The stats stage's public surface: per-symbol and per-stream totals, sliding windows, health
 * scores, trends and the ranking, fed by the correlator's verdicts.
 */
export * from './quote-stats.js';
export * from './score.js';
export * from './series.js';
export * from './trend.js';
export * from './window.js';
export { NATIVE_LATENCY_SCHEMA, NATIVE_LATENCY_ZERO_THRESHOLD } from './sketch.js';
