import type { CounterFamily, GaugeFamily, Registry } from '../export/index.js';

/**
 * The HTTP server's own series (`tkmprom_http_*`, README "Metrics"), registered in the registry it
 * serves, after the catalogue.
 */
export interface HttpMetricFamilies {
  httpOpenConnections: GaugeFamily;
  httpRefused: CounterFamily;
  httpSlowDropped: CounterFamily;
}

export function createHttpMetrics(reg: Registry): HttpMetricFamilies {
  return {
    httpOpenConnections: reg.gauge('tkmprom_http_open_connections', 'HTTP connections open now.'),
    httpRefused: reg.counter(
      'tkmprom_http_requests_refused_total',
      'HTTP connections and requests refused by a limit: connections (http.maxConnections), concurrency (503), rate_limit (429), uri_too_long (414), body (413 or 405).',
      ['reason'],
    ),
    httpSlowDropped: reg.counter(
      'tkmprom_http_slow_clients_dropped_total',
      'HTTP clients dropped for not taking their whole response within http.sendTimeout.',
    ),
  };
}
