/**
 * tkmprom's projection of its state into Prometheus metrics: the metric catalogue (README
 * "Metrics") and the collection of gauges from the fleet and the stats at each scrape.
 */
export * from './build-info.js';
export * from './catalog.js';
export * from './collect.js';
