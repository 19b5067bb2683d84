import { z } from 'zod';

/**
 * The shapes of the JSON API. The handlers' return types come from these schemas, and the OpenAPI
 * document is generated from them, so the code, the types and the published description cannot
 * drift apart. Numbers that are not defined (a latency with no response, a health with no outcome)
 * are `null`: JSON has no NaN.
 */

const count = z.number().int().nonnegative();
const maybe = (s: z.ZodNumber) => s.nullable();
const seconds = z.number().nonnegative();
const timestamp = z.string().describe('RFC 3339 time, UTC');

export const TREND_VALUES = ['degrading', 'stable', 'improving', 'unknown'] as const;
export const TrendSchema = z
  .enum(TREND_VALUES)
  .describe(
    'Recent window against the baseline before it: latency (Welch t on log-latency) and failure rate (two-proportion z); unknown without enough samples.',
  );

export const TotalsSchema = z
  .object({
    requests: count,
    responses: count,
    timeouts: count,
    errors: count.describe('Sum over the error types.'),
    late: count,
    interrupted: count.describe('Pending when the broker connection dropped.'),
    nonQuote: count.describe('Answered in time with a reply that is not a quote (NO_CONFIG, ...).'),
    errorsByType: z.record(z.string(), count),
  })
  .describe(
    'Counts since the exporter started. requests, responses, timeouts, late and errorsByType are the Prometheus counters of the same label, read at the same moment.',
  );

export const WindowSchema = z
  .object({
    seconds: seconds.describe('Length of the sliding window (stats.window).'),
    requests: count.describe('responses + errors + timeouts + non-quote answers in the window.'),
    responses: count,
    errors: count,
    timeouts: count,
    late: count,
    responseRate: maybe(z.number().min(0).max(1)),
    avgLatencySeconds: maybe(seconds),
    p95LatencySeconds: maybe(seconds),
    p99LatencySeconds: maybe(seconds),
  })
  .describe('Figures over the recent sliding window; latency percentiles within 1 % (relative).');

const outcomeFields = {
  totals: TotalsSchema,
  window: WindowSchema,
  score: maybe(z.number().nonnegative()).describe(
    'Ranking score: p95 latency plus the failed share of the request timeout, in seconds; null when nothing was answered. Higher is worse.',
  ),
  health: maybe(z.number().min(0).max(100)).describe(
    '0 (down) to 100 (meets the objectives) over the window; null without quote outcomes.',
  ),
  down: z
    .boolean()
    .describe(
      'Down rather than slow: at least rankingMinRequests requests in the window, not one answered quote, and at least one timeout or error. Listed before the slow ones.',
    ),
  trend: TrendSchema,
};

export const SymbolSchema = z
  .object({
    symbol: z.string(),
    stream: z.string().describe('The quote backend the symbol is attributed to.'),
    streamObserved: z
      .boolean()
      .describe(
        'True when an HTTPSTREAMSTOCKS hand-off named the stream; false when config rules (or none) did.',
      ),
    ...outcomeFields,
  })
  .describe('One symbol, as labelled in the metrics.');

export const RankedSymbolSchema = SymbolSchema.extend({
  rank: z.number().int().positive().describe('Place in worstSymbols, from 1.'),
}).describe(
  'One of the worst symbols: a down one, or one of the ranking of the slow ones (tickrmeter_slowest_symbols_ranking).',
);

export const HistorySchema = z
  .object({
    intervalSeconds: z.literal(60),
    start: timestamp.describe('Start of the first (oldest) minute.'),
    p95LatencySeconds: z.array(maybe(seconds)),
    responseRate: z.array(maybe(z.number().min(0).max(1))),
  })
  .describe(
    'The last 60 minutes, oldest first, the last one being the current minute: for each minute the window p95 latency and response rate as last seen during it; null when unknown (no response, or the exporter was not running).',
  );

export const StreamSchema = z
  .object({
    stream: z.string(),
    symbols: count.describe('Symbols attributed to the stream now.'),
    ...outcomeFields,
    history: HistorySchema,
  })
  .describe('One stream (quote backend).');

export const TrendDetailSchema = z.object({
  recentSamples: count,
  baselineSamples: count,
  recentMeanLatencySeconds: maybe(seconds).describe('Geometric mean.'),
  baselineMeanLatencySeconds: maybe(seconds),
  latencyRatio: maybe(z.number()),
  t: maybe(z.number()),
  recentRequests: count,
  baselineRequests: count,
  recentFailureRate: maybe(z.number().min(0).max(1)),
  baselineFailureRate: maybe(z.number().min(0).max(1)),
  z: maybe(z.number()),
});

export const TrendEntrySchema = z.object({
  kind: z.enum(['stream', 'symbol']),
  name: z.string(),
  stream: z.string().nullable().describe("The symbol's stream; null for a stream."),
  trend: TrendSchema,
  score: maybe(z.number().nonnegative()),
  health: maybe(z.number().min(0).max(100)),
  down: z.boolean(),
  detail: TrendDetailSchema,
});

export const OfflineEventSchema = z.object({
  device: z.string(),
  at: timestamp.describe('When the device went offline (last heard + its offline limit).'),
  lastHeardAt: timestamp,
  firmware: z.string(),
  online: z.boolean().describe('Online again now.'),
});

export const CHARGING_STATES = ['charging', 'not_charging', 'unknown'] as const;

export const DeviceSummarySchema = z.object({
  device: z.string(),
  online: z.boolean(),
  firstHeardAt: timestamp,
  lastHeardAt: timestamp,
  silentSeconds: seconds.describe('Since the device was last heard.'),
  offlineAfterSeconds: seconds.describe('Silence after which the device counts as offline.'),
  firmware: z.string(),
  innerVersion: z.string(),
  flashId: z.string(),
  battery: maybe(z.number().min(0).max(100)),
  charging: z.enum(CHARGING_STATES),
  shownSymbol: z.string().nullable().describe('The symbol the device shows, as far as replies told.'),
});

export const OUTCOME_VALUES = ['response', 'error', 'non_quote', 'timeout', 'late', 'interrupted'] as const;

export const RecentRequestSchema = z.object({
  requestedAt: timestamp,
  symbol: z.string(),
  outcome: z.enum(OUTCOME_VALUES),
  latencySeconds: maybe(seconds).describe('Request to reply; null for a timeout or interruption.'),
  replyType: z.string(),
});

export const DeviceDetailSchema = DeviceSummarySchema.extend({
  generatedAt: timestamp,
  messages: count,
  vin: maybe(z.number()),
  uptimeSeconds: maybe(seconds).describe('As last reported.'),
  uptimeReportedAt: timestamp.nullable(),
  wifiConnectionsLost: maybe(z.number()),
  flashCheck: maybe(z.number()),
  updateIntervalSeconds: maybe(seconds),
  reboots: count,
  lastBootAt: timestamp.nullable(),
  bootPending: z.boolean(),
  pendingRequests: count,
  recentRequests: z.array(RecentRequestSchema).describe('The latest request outcomes, oldest first.'),
});

export const StatsSchema = z.object({
  generatedAt: timestamp.describe('When the snapshot behind this answer was taken (at most 1 s before).'),
  startedAt: timestamp,
  health: maybe(z.number().min(0).max(100)).describe(
    'Health of the quote path as a whole (tickrmeter_quote_path_health_score; null here where the metric reads 100 for want of data).',
  ),
  messages: z.object({
    total: count,
    perSecond: maybe(z.number().nonnegative()).describe('Over the last 10 to 20 seconds.'),
    byKind: z.record(z.string(), count),
  }),
  devices: z.object({
    tracked: count,
    online: count,
    offline: count,
    byFirmware: z.array(z.object({ firmware: z.string(), online: count })),
    byVersion: z.array(
      z.object({ firmware: z.string(), innerVersion: z.string(), flashId: z.string(), online: count }),
    ),
    charging: z.object({ charging: count, not_charging: count, unknown: count }),
    battery: z.record(z.string(), count).describe('Online devices by battery band.'),
    recentlyOffline: z.array(OfflineEventSchema).describe('Latest first, at most 10.'),
  }),
  quotes: z.object({
    totals: z.object({
      requests: count,
      responses: count,
      timeouts: count,
      errors: count,
      late: count,
      interrupted: count,
      nonQuote: count,
      unmatched: count,
    }),
    window: WindowSchema,
    history: HistorySchema,
    pending: count,
    symbols: count,
    streams: count,
  }),
  worstSymbols: z
    .array(RankedSymbolSchema)
    .describe(
      'The worst symbols, as the page shows them: the down ones first (at most rankingSize, most window requests first), then the ranking of the slow ones (tickrmeter_slowest_symbols_ranking) in its order.',
    ),
  settings: z.object({
    requestTimeoutSeconds: seconds,
    windowSeconds: seconds,
    objectiveResponseRate: z.number(),
    objectiveP95LatencySeconds: seconds,
    rankingSize: count,
    rankingMinRequests: count,
  }),
});

export const StreamListSchema = z.object({
  generatedAt: timestamp,
  streams: z.array(StreamSchema),
});

export const StreamDetailSchema = StreamSchema.extend({
  generatedAt: timestamp,
  symbolNames: z.array(z.string()).describe('The symbols attributed to the stream, by name.'),
});

export const SYMBOL_SORTS = ['score', 'requests', 'timeouts', 'name'] as const;

export const SymbolListSchema = z.object({
  generatedAt: timestamp,
  sort: z.enum(SYMBOL_SORTS),
  total: count.describe('Symbols that matched the filters, before the limit.'),
  symbols: z.array(SymbolSchema),
});

export const SymbolDetailSchema = SymbolSchema.extend({
  generatedAt: timestamp,
  trendDetail: TrendDetailSchema,
});

export const DEVICE_STATUSES = ['online', 'offline', 'unconfirmed'] as const;

export const DeviceListSchema = z.object({
  generatedAt: timestamp,
  status: z.enum(DEVICE_STATUSES).nullable(),
  total: count.describe('Devices that matched, before the limit.'),
  devices: z.array(DeviceSummarySchema).describe('Most recently heard first.'),
});

export const TrendListSchema = z.object({
  generatedAt: timestamp,
  total: count,
  entries: z
    .array(TrendEntrySchema)
    .describe(
      'Degrading first, then unknown, then improving; within each, the down ones first, then highest score first.',
    ),
});

export const ErrorSchema = z.object({
  error: z.string().describe('Short error class: not found, bad request, unauthorized, ...'),
  message: z.string().optional(),
  parameter: z.string().optional().describe('The query parameter or path segment at fault.'),
});

export type Totals = z.output<typeof TotalsSchema>;
export type WindowJson = z.output<typeof WindowSchema>;
export type SymbolJson = z.output<typeof SymbolSchema>;
export type RankedSymbolJson = z.output<typeof RankedSymbolSchema>;
export type StreamJson = z.output<typeof StreamSchema>;
export type HistoryJson = z.output<typeof HistorySchema>;
export type TrendDetailJson = z.output<typeof TrendDetailSchema>;
export type TrendEntryJson = z.output<typeof TrendEntrySchema>;
export type DeviceSummaryJson = z.output<typeof DeviceSummarySchema>;
export type DeviceDetailJson = z.output<typeof DeviceDetailSchema>;
export type StatsJson = z.output<typeof StatsSchema>;
export type StreamListJson = z.output<typeof StreamListSchema>;
export type StreamDetailJson = z.output<typeof StreamDetailSchema>;
export type SymbolListJson = z.output<typeof SymbolListSchema>;
export type SymbolDetailJson = z.output<typeof SymbolDetailSchema>;
export type DeviceListJson = z.output<typeof DeviceListSchema>;
export type TrendListJson = z.output<typeof TrendListSchema>;
export type ErrorJson = z.output<typeof ErrorSchema>;
export type SymbolSort = (typeof SYMBOL_SORTS)[number];
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];
