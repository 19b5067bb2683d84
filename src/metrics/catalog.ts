import type {
  CounterFamily,
  GaugeFamily,
  HistogramFamily,
  HistogramOptions,
  ProtobufBuckets,
  Registry,
} from '../export/index.js';
import { NATIVE_LATENCY_SCHEMA, NATIVE_LATENCY_ZERO_THRESHOLD, type QuoteSeries } from '../stats/index.js';
import { type BuildInfo, buildInfo } from './build-info.js';

export const BOOT_TO_CONFIG_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
export const HOP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];

/**
 * Every metric family of the contract (docs in README "Metrics"), registered in render order; the
 * quote path's counters are the ones the stats stage asks for (`QuoteSeries`).
 */
export interface Catalog extends QuoteSeries {
  requests: CounterFamily;
  responses: CounterFamily;
  timeouts: CounterFamily;
  errors: CounterFamily;
  late: CounterFamily;
  unmatched: CounterFamily;
  nonQuote: CounterFamily;
  interrupted: CounterFamily;
  latency: HistogramFamily;
  avgLatency: GaugeFamily;
  p95Latency: GaugeFamily;
  p99Latency: GaugeFamily;
  responseRate: GaugeFamily;
  symbolHealth: GaugeFamily;
  slownessScore: GaugeFamily;
  ranking: GaugeFamily;

  streamRequests: CounterFamily;
  streamResponses: CounterFamily;
  streamTimeouts: CounterFamily;
  streamErrors: CounterFamily;
  streamLate: CounterFamily;
  streamLatency: HistogramFamily;
  streamResponseRate: GaugeFamily;
  streamP95Latency: GaugeFamily;
  streamHealth: GaugeFamily;
  quotePathHealth: GaugeFamily;

  devicesOnline: GaugeFamily;
  devicesOffline: GaugeFamily;
  devicesByCharging: GaugeFamily;
  devicesByBattery: GaugeFamily;
  reboots: CounterFamily;
  bootToConfig: HistogramFamily;
  hopLatency: HistogramFamily;

  deviceOnline: GaugeFamily;
  deviceBattery: GaugeFamily;
  deviceUptime: GaugeFamily;
  deviceLastSeen: GaugeFamily;
  deviceWifiLost: GaugeFamily;

  messages: CounterFamily;
  invalid: CounterFamily;
  pending: GaugeFamily;
  buildInfo: GaugeFamily;
  mqttConnected: GaugeFamily;
  mqttReconnects: CounterFamily;
  mqttSilences: CounterFamily;
  mqttLastMessageAge: GaugeFamily;
  trackedDevices: GaugeFamily;
  trackedSymbols: GaugeFamily;
  trackedStreams: GaugeFamily;
  evictions: CounterFamily;
  symbolOverflow: CounterFamily;
}

/**
 * The options of the two latency histograms (by symbol and by stream) for `stats.histograms`:
 * what protobuf scrapers get. Text scrapers always get the classic buckets, so `classic` keeps no
 * native buckets at all.
 */
export function latencyHistogramOptions(histograms: ProtobufBuckets): HistogramOptions {
  if (histograms === 'classic') return { protobufBuckets: 'classic' };
  return {
    native: { schema: NATIVE_LATENCY_SCHEMA, zeroThreshold: NATIVE_LATENCY_ZERO_THRESHOLD },
    protobufBuckets: histograms,
    // Scraped only as text, an exporter keeps no native buckets: about 2 KB per symbol and stream.
    ...(histograms === 'native' && { nativeFrom: 'protobuf-scrape' as const }),
  };
}

/**
 * Where the window's latency gauges (mean, p95, p99) go: `with-classic` beside classic buckets
 * only, so a protobuf scraper that gets native histograms alone reads its quantiles from them;
 * `always` in every exposition.
 */
export type WindowLatencyGauges = 'with-classic' | 'always';

export interface CatalogOptions {
  histograms?: ProtobufBuckets;
  windowLatencyGauges?: WindowLatencyGauges;
  build?: BuildInfo;
}

export function createCatalog(
  reg: Registry,
  latencyBuckets: readonly number[],
  options: CatalogOptions = {},
): Catalog {
  const { histograms = 'native', windowLatencyGauges = 'with-classic', build = buildInfo() } = options;
  const sym = ['symbol'];
  const stream = ['stream'];
  const latencyOptions = latencyHistogramOptions(histograms);
  // A native histogram holds the whole distribution at about the sketch's resolution: the
  // window's quantiles are a PromQL query away, and a series less per symbol and gauge.
  const windowGauge = { textOnly: windowLatencyGauges === 'with-classic' && histograms === 'native' };
  // Rare events, counted per symbol: a series of zeros for each of 5,000 symbols would cost as
  // much as the series that move; the stream's counters, which start at zero, count them too.
  const rare = { fromFirstCount: true };
  const cat: Catalog = {
    requests: reg.counter(
      'tickrmeter_stock_update_requests_total',
      'Quote requests, counted under their symbol once it is known.',
      sym,
    ),
    responses: reg.counter(
      'tickrmeter_stock_update_responses_total',
      'Quote replies that answered a pending request within the request timeout.',
      sym,
    ),
    timeouts: reg.counter(
      'tickrmeter_stock_update_timeout_total',
      'Quote requests with no reply within the request timeout.',
      sym,
    ),
    errors: reg.counter(
      'tickrmeter_stock_update_errors_total',
      'Replies that answered a request with an error.',
      ['symbol', 'type'],
    ),
    late: reg.counter(
      'tickrmeter_stock_update_late_responses_total',
      'Replies that arrived after their request had timed out.',
      sym,
      rare,
    ),
    unmatched: reg.counter(
      'tickrmeter_stock_update_unmatched_responses_total',
      'Replies for which no request was pending and none had recently timed out.',
      ['type'],
    ),
    nonQuote: reg.counter(
      'tickrmeter_stock_update_non_quote_responses_total',
      'Requests answered in time with a reply that is not a quote (NO_CONFIG, registration flow).',
      ['type'],
    ),
    interrupted: reg.counter(
      'tickrmeter_stock_update_interrupted_total',
      'Requests pending when the broker connection dropped, whose outcome could not be seen.',
      sym,
      rare,
    ),
    latency: reg.histogram(
      'tickrmeter_stock_update_latency_seconds',
      'Request-to-reply time of requests answered in time with a quote.',
      sym,
      latencyBuckets,
      latencyOptions,
    ),
    avgLatency: reg.gauge(
      'tickrmeter_stock_update_avg_latency_seconds',
      'Mean quote latency over the recent window.',
      sym,
      windowGauge,
    ),
    p95Latency: reg.gauge(
      'tickrmeter_stock_update_p95_latency_seconds',
      '95th percentile quote latency over the recent window (relative error at most 1 %).',
      sym,
      windowGauge,
    ),
    p99Latency: reg.gauge(
      'tickrmeter_stock_update_p99_latency_seconds',
      '99th percentile quote latency over the recent window (relative error at most 1 %).',
      sym,
      windowGauge,
    ),
    responseRate: reg.gauge(
      'tickrmeter_symbol_response_rate',
      'Share of requests answered in time with a quote over the recent window, 0 to 1.',
      sym,
    ),
    symbolHealth: reg.gauge(
      'tickrmeter_symbol_health_score',
      'Health of the symbol over the recent window, 0 (down) to 100 (meets its objectives).',
      sym,
    ),
    slownessScore: reg.gauge(
      'tickrmeter_symbol_slowness_score',
      'The ranking score of every rankable symbol (p95 latency plus the failed share times the request timeout, in seconds): one stable series per symbol, for graphs.',
      sym,
    ),
    ranking: reg.gauge(
      'tickrmeter_slowest_symbols_ranking',
      'The slowest symbols by ranking score: p95 latency plus the failed share times the request timeout, in seconds.',
      ['rank', 'symbol'],
    ),

    streamRequests: reg.counter(
      'tickrmeter_stream_requests_total',
      'Quote requests by quote backend.',
      stream,
    ),
    streamResponses: reg.counter(
      'tickrmeter_stream_responses_total',
      'Quote replies in time by quote backend.',
      stream,
    ),
    streamTimeouts: reg.counter(
      'tickrmeter_stream_timeout_total',
      'Quote requests with no reply in time by quote backend.',
      stream,
    ),
    streamErrors: reg.counter('tickrmeter_stream_errors_total', 'Error replies by quote backend.', [
      'stream',
      'type',
    ]),
    streamLate: reg.counter(
      'tickrmeter_stream_late_responses_total',
      'Replies after the timeout by quote backend.',
      stream,
    ),
    streamLatency: reg.histogram(
      'tickrmeter_stream_latency_seconds',
      'Request-to-reply time of quotes answered in time, by quote backend.',
      stream,
      latencyBuckets,
      latencyOptions,
    ),
    streamResponseRate: reg.gauge(
      'tickrmeter_stream_response_rate',
      'Share of requests answered in time with a quote over the recent window, by quote backend.',
      stream,
    ),
    streamP95Latency: reg.gauge(
      'tickrmeter_stream_p95_latency_seconds',
      '95th percentile quote latency over the recent window, by quote backend.',
      stream,
      windowGauge,
    ),
    streamHealth: reg.gauge(
      'tickrmeter_stream_health_score',
      'Health of the quote backend over the recent window, 0 (down) to 100 (meets its objectives).',
      stream,
    ),
    quotePathHealth: reg.gauge(
      'tickrmeter_quote_path_health_score',
      'Health of the fleet quote path as a whole over the recent window, 0 to 100.',
    ),

    devicesOnline: reg.gauge('tickrmeter_devices_online', 'Devices heard from within the device timeout.', [
      'firmware_version',
      'iv',
      'flash_id',
    ]),
    devicesOffline: reg.gauge(
      'tickrmeter_devices_offline',
      'Devices tracked but not heard from within the device timeout.',
    ),
    devicesByCharging: reg.gauge(
      'tickrmeter_devices_by_charging_state',
      'Online devices by charging state.',
      ['charging_state'],
    ),
    devicesByBattery: reg.gauge('tickrmeter_devices_by_battery_level', 'Online devices by battery band.', [
      'level',
    ]),
    reboots: reg.counter(
      'tickrmeter_device_reboots_total',
      'Device boots seen (boot message, or an uptime lower than the last one seen), counted once each.',
      ['firmware_version'],
    ),
    bootToConfig: reg.histogram(
      'tickrmeter_device_boot_to_config_seconds',
      'Time from TICKRMETERBOOT to the first reply on the device topic.',
      [],
      BOOT_TO_CONFIG_BUCKETS,
    ),
    hopLatency: reg.histogram(
      'tickrmeter_backend_hop_latency_seconds',
      'Time between the hops of the backend flow, by stage.',
      ['stage'],
      HOP_BUCKETS,
    ),

    deviceOnline: reg.gauge(
      'tickrmeter_device_online',
      'Opted-in devices only: 1 while the device is online.',
      ['device_id'],
    ),
    deviceBattery: reg.gauge(
      'tickrmeter_device_battery_percent',
      'Opted-in devices only: last reported battery level.',
      ['device_id'],
    ),
    deviceUptime: reg.gauge(
      'tickrmeter_device_uptime_seconds',
      'Opted-in devices only: last reported uptime.',
      ['device_id'],
    ),
    deviceLastSeen: reg.gauge(
      'tickrmeter_device_last_seen_timestamp_seconds',
      'Opted-in devices only: when the device was last heard, Unix time.',
      ['device_id'],
    ),
    deviceWifiLost: reg.gauge(
      'tickrmeter_device_wifi_connections_lost',
      'Opted-in devices only: Wi-Fi connections lost since boot, as last reported.',
      ['device_id'],
    ),

    messages: reg.counter('tkmprom_messages_total', 'MQTT messages received, by classified kind.', ['kind']),
    invalid: reg.counter('tkmprom_messages_invalid_total', 'Messages dropped as unreadable, by reason.', [
      'reason',
    ]),
    buildInfo: reg.gauge(
      'tkmprom_build_info',
      'Always 1: the version (package.json), git revision (dist/REVISION) and Node.js version of this exporter.',
      ['version', 'revision', 'nodejs'],
    ),
    pending: reg.gauge('tkmprom_pending_requests', 'Requests waiting for a reply.'),
    mqttConnected: reg.gauge('tkmprom_mqtt_connected', '1 while connected and subscribed to the broker.'),
    mqttReconnects: reg.counter('tkmprom_mqtt_reconnects_total', 'Reconnections to the broker.'),
    mqttSilences: reg.counter(
      'tkmprom_mqtt_silences_total',
      'Times a connection that carried messages went silent past mqtt.silenceTimeout (or sooner for a fast feed) and was reconnected.',
    ),
    mqttLastMessageAge: reg.gauge(
      'tkmprom_mqtt_last_message_age_seconds',
      'Seconds since the last MQTT message was received (since start before the first).',
    ),
    trackedDevices: reg.gauge('tkmprom_tracked_devices', 'Devices held in memory.'),
    trackedSymbols: reg.gauge('tkmprom_tracked_symbols', 'Symbols held in memory.'),
    trackedStreams: reg.gauge('tkmprom_tracked_streams', 'Quote backends held in memory.'),
    evictions: reg.counter('tkmprom_evictions_total', 'State dropped to stay inside the memory bounds.', [
      'what',
    ]),
    symbolOverflow: reg.counter(
      'tkmprom_symbol_overflow_total',
      'Outcomes counted under symbol="_other" because the symbol limit was reached.',
    ),
  };
  cat.buildInfo.labels(build.version, build.revision, build.nodejs).set(1);
  return cat;
}
