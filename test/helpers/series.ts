import {
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  type HistogramSnapshot,
  type Registry,
} from '../../src/export/index.js';

/**
 * One series of a counter or a gauge as the registry holds it now, by the metric's name (a
 * counter by its `_total` name) and its label values in the family's order; undefined while the
 * series does not exist. Reading runs no collection: gauges set at scrape time keep their last
 * scrape's value.
 */
export function seriesValue(registry: Registry, name: string, ...labels: string[]): number | undefined {
  const f = registry.getFamily(name);
  if (f instanceof CounterFamily || f instanceof GaugeFamily) return f.get(...labels);
  throw new Error(`no counter or gauge ${name} in the registry`);
}

/** One series of a histogram as the registry holds it now; undefined while it does not exist. */
export function histogramSeries(
  registry: Registry,
  name: string,
  ...labels: string[]
): HistogramSnapshot | undefined {
  const f = registry.getFamily(name);
  if (f instanceof HistogramFamily) return f.get(...labels);
  throw new Error(`no histogram ${name} in the registry`);
}

/** Every series of a counter or a gauge, with its labels by name, in the family's order. */
export function seriesEntries(
  registry: Registry,
  name: string,
): Array<{ labels: Record<string, string>; value: number }> {
  const f = registry.getFamily(name);
  if (f instanceof CounterFamily || f instanceof GaugeFamily) return f.entries();
  throw new Error(`no counter or gauge ${name} in the registry`);
}
