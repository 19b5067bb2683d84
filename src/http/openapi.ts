import { z } from 'zod';
import { DEFAULT_LIMIT, MAX_LIMIT, TREND_FILTERS } from './query.js';
import {
  DEVICE_STATUSES,
  DeviceDetailSchema,
  DeviceListSchema,
  DeviceSummarySchema,
  ErrorSchema,
  HistorySchema,
  RankedSymbolSchema,
  RecentRequestSchema,
  StatsSchema,
  StreamDetailSchema,
  StreamListSchema,
  StreamSchema,
  SYMBOL_SORTS,
  SymbolDetailSchema,
  SymbolListSchema,
  SymbolSchema,
  TotalsSchema,
  TrendDetailSchema,
  TrendEntrySchema,
  TrendListSchema,
  TrendSchema,
  WindowSchema,
} from './schemas.js';

type Json = Record<string, unknown>;

const COMPONENTS: Record<string, z.ZodType> = {
  Stats: StatsSchema,
  StreamList: StreamListSchema,
  StreamDetail: StreamDetailSchema,
  Stream: StreamSchema,
  SymbolList: SymbolListSchema,
  SymbolDetail: SymbolDetailSchema,
  Symbol: SymbolSchema,
  RankedSymbol: RankedSymbolSchema,
  DeviceList: DeviceListSchema,
  DeviceDetail: DeviceDetailSchema,
  DeviceSummary: DeviceSummarySchema,
  RecentRequest: RecentRequestSchema,
  TrendList: TrendListSchema,
  TrendEntry: TrendEntrySchema,
  TrendDetail: TrendDetailSchema,
  Trend: TrendSchema,
  Totals: TotalsSchema,
  Window: WindowSchema,
  History: HistorySchema,
  Error: ErrorSchema,
};

/** The JSON Schemas of the API's bodies, generated from the zod schemas the handlers are typed by. */
export function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, Json>;
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(generated)) out[id] = tidy(schema) as Json;
  return out;
}

/**
 * Drops what does not belong in an OpenAPI component (`$schema`, a fragment `$id`), the safe-integer
 * bounds zod adds to every integer, and `additionalProperties: false`: fields may be added to an
 * answer without a new API version, so clients must not be told to reject them.
 */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node as Json)) {
    if (k === '$schema' || k === '$id') continue;
    if (k === 'additionalProperties' && v === false) continue;
    if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    out[k] = tidy(v);
  }
  return out;
}

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: string, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(id) } },
});

const ERRORS = {
  '400': json('Error', 'A query parameter or name is not valid; `parameter` names it.'),
  '401': json('Error', 'A token is configured and the request did not carry it.'),
  '429': json(
    'Error',
    'More API requests from this address than http.apiRateLimit and http.apiRateBurst allow; `Retry-After` says in how many seconds to retry.',
  ),
  '503': json(
    'Error',
    'http.maxConcurrentResponses responses are in progress; `Retry-After` says in how many seconds to retry.',
  ),
};
const NOT_FOUND = { '404': json('Error', 'No such name.') };

const limit = {
  name: 'limit',
  in: 'query',
  description: `At most this many items (default ${DEFAULT_LIMIT}).`,
  schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
};

const nameInPath = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

const open = { security: [] };
const text = (description: string, type = 'text/plain') => ({
  description,
  content: { [type]: { schema: { type: 'string' } } },
});

/** OpenAPI 3.1 description of the JSON API, the page and the plain endpoints beside them. */
export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tkmprom JSON API',
      version: '1',
      description:
        'Read-only view of a TickrMeter fleet as the exporter sees it. Answers come from a snapshot at most one second old; totals equal the Prometheus counters of the same labels. Numbers that are not defined are null. See docs/api.md.',
    },
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Only when the exporter runs with --api-token-file.',
        },
        pageCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: 'tkmprom_session',
          description: 'Set by GET /?token=...; what the status page uses.',
        },
      },
    },
    // The empty requirement: without a configured token no credentials are needed.
    security: [{ bearer: [] }, { pageCookie: [] }, {}],
    paths: {
      '/api/v1/stats': {
        get: {
          operationId: 'getStats',
          summary: 'The fleet at a glance',
          responses: { '200': json('Stats', 'Fleet, messages, quote path, worst symbols.'), ...ERRORS },
        },
      },
      '/api/v1/streams': {
        get: {
          operationId: 'listStreams',
          summary: 'Every stream (quote backend), by name, with its last hour of p95 latency',
          responses: { '200': json('StreamList', 'The streams.'), ...ERRORS },
        },
      },
      '/api/v1/streams/{stream}': {
        get: {
          operationId: 'getStream',
          summary: 'One stream',
          parameters: [nameInPath('stream', 'Stream name, URL-encoded.')],
          responses: { '200': json('StreamDetail', 'The stream.'), ...ERRORS, ...NOT_FOUND },
        },
      },
      '/api/v1/symbols': {
        get: {
          operationId: 'listSymbols',
          summary: 'Symbols, sorted and filtered',
          parameters: [
            {
              name: 'sort',
              in: 'query',
              description:
                'score: worst first, the down symbols (no answered quote in the window, see the down field) before the slow ones, null scores last; requests, timeouts: most in the window first; name. Ties: window requests, totals, then name.',
              schema: { type: 'string', enum: [...SYMBOL_SORTS], default: 'score' },
            },
            limit,
            {
              name: 'stream',
              in: 'query',
              description: 'Only symbols attributed to this stream.',
              schema: { type: 'string' },
            },
            {
              name: 'minRequests',
              in: 'query',
              description: 'Only symbols with at least this many requests in the window.',
              schema: { type: 'integer', minimum: 0, default: 0 },
            },
          ],
          responses: { '200': json('SymbolList', 'The symbols.'), ...ERRORS },
        },
      },
      '/api/v1/symbols/{symbol}': {
        get: {
          operationId: 'getSymbol',
          summary: 'One symbol, with the statistics behind its trend',
          parameters: [nameInPath('symbol', 'Symbol, URL-encoded: BTC%2FUSD.')],
          responses: { '200': json('SymbolDetail', 'The symbol.'), ...ERRORS, ...NOT_FOUND },
        },
      },
      '/api/v1/devices': {
        get: {
          operationId: 'listDevices',
          summary: 'Devices, most recently heard first',
          parameters: [
            {
              name: 'status',
              in: 'query',
              description: 'Only online or only offline devices.',
              schema: { type: 'string', enum: [...DEVICE_STATUSES] },
            },
            limit,
          ],
          responses: { '200': json('DeviceList', 'The devices.'), ...ERRORS },
        },
      },
      '/api/v1/devices/{id}': {
        get: {
          operationId: 'getDevice',
          summary: 'One device, with its latest requests and their outcomes',
          parameters: [nameInPath('id', 'Device id: 12 hex digits.')],
          responses: { '200': json('DeviceDetail', 'The device.'), ...ERRORS, ...NOT_FOUND },
        },
      },
      '/api/v1/trends': {
        get: {
          operationId: 'listTrends',
          summary: 'Every stream and symbol whose trend is not stable, worst first',
          parameters: [
            limit,
            {
              name: 'kind',
              in: 'query',
              description: 'Only streams or only symbols.',
              schema: { type: 'string', enum: ['stream', 'symbol'] },
            },
            {
              name: 'trend',
              in: 'query',
              description: 'Only this trend.',
              schema: { type: 'string', enum: [...TREND_FILTERS] },
            },
          ],
          responses: { '200': json('TrendList', 'The streams and symbols.'), ...ERRORS },
        },
      },
      '/api/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          ...open,
          responses: {
            '200': {
              description: 'OpenAPI 3.1',
              content: { 'application/json': { schema: { type: 'object' } } },
            },
          },
        },
      },
      '/': {
        get: {
          operationId: 'getStatusPage',
          summary: 'The live status page (HTML); ?token= sets its cookie when a token is configured',
          parameters: [
            {
              name: 'token',
              in: 'query',
              description: 'The API token, once: answered with a cookie and a redirect to the page.',
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': text('The page.', 'text/html'),
            '303': { description: 'Token accepted: the cookie is set, on to the page.' },
            '401': text('A token is configured: a form that asks for it.', 'text/html'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          summary: 'Prometheus exposition (text or OpenMetrics); never behind the token',
          ...open,
          responses: {
            '200': text('The metrics.'),
            '503': json(
              'Error',
              'http.maxConcurrentResponses responses are in progress; retry after `Retry-After` seconds.',
            ),
          },
        },
      },
      '/healthz': {
        get: { operationId: 'getHealthz', summary: 'Liveness', ...open, responses: { '200': text('ok') } },
      },
      '/readyz': {
        get: {
          operationId: 'getReadyz',
          summary: 'Readiness: connected and subscribed to the broker',
          ...open,
          responses: { '200': text('ready'), '503': text('not ready') },
        },
      },
    },
  };
}
