import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';

/** A positive duration; `zero` also allows 0 (`0ms`), for settings where 0 turns a feature off. */
const duration = (fallback: string, { zero = false } = {}) =>
  z
    .string({ error: 'expected a duration such as 500ms, 10s, 5m' })
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < 0 || (ms === 0 && !zero)) {
        ctx.addIssue({
          code: 'custom',
          message: zero
            ? `expected a duration such as 0ms, 20ms, 1s, got "${text}"`
            : `expected a duration such as 500ms, 10s, 5m, got "${text}"`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** `HOST:PORT` or `[v6]:PORT`; an empty host is every interface. */
function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const hostPortSchema = z.string().transform((text, ctx) => {
  const hp = parseHostPort(text);
  if (hp === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected HOST:PORT such as 127.0.0.1:9883, got "${text}"` });
    return z.NEVER;
  }
  return hp;
});

/** A listener that may be turned off. */
const hostPortOrOffSchema = z.string().transform((text, ctx) => {
  if (text === 'off') return 'off' as const;
  const hp = parseHostPort(text);
  if (hp === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected HOST:PORT such as 127.0.0.1:1883, or off, got "${text}"`,
    });
    return z.NEVER;
  }
  return hp;
});

export type HostPort = z.output<typeof hostPortSchema>;

const count = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);

const streamRule = z
  .object({
    symbol: z.string().min(1).optional(),
    pattern: z
      .string()
      .min(1)
      .optional()
      .refine(
        (p) => {
          if (p === undefined) return true;
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'not a valid regular expression' },
      ),
    stream: z.string().min(1).max(64),
  })
  .strict()
  .refine((r) => (r.symbol === undefined) !== (r.pattern === undefined), {
    message: 'a rule has exactly one of symbol or pattern',
  });

/** The default port: not Prometheus (9090), Pushgateway (9091), Alertmanager (9093), node_exporter (9100). */
export const DEFAULT_PORT = 9883;

export const configSchema = z
  .object({
    mqtt: z
      .object({
        url: z
          .string()
          .default('mqtt://127.0.0.1:1883')
          .refine((u) => /^(mqtts?|wss?|tcp|ssl):\/\/[^/\s]+/.test(u), {
            message: 'expected mqtt://host:port, mqtts://host:port, ws:// or wss://',
          }),
        username: z.string().optional(),
        password: z.string().optional(),
        clientId: z.string().min(1).max(128).optional(),
        keepalive: duration('30s'),
        protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        rejectUnauthorized: z.coerce.boolean().default(true),
        reconnectMin: duration('1s'),
        reconnectMax: duration('2s'),
        batchWindow: duration('50ms', { zero: true }),
        silenceTimeout: duration('60s', { zero: true }),
      })
      .strict()
      .prefault({}),
    listen: hostPortSchema.prefault(`0.0.0.0:${DEFAULT_PORT}`),
    embeddedBroker: hostPortSchema.optional(),
    // One broker section for `tkmprom broker`, `run --embedded-broker` and `demo`: the plain
    // listener is `broker.listen` for the first, the embedded address for the others.
    broker: z
      .object({
        listen: hostPortOrOffSchema.prefault('127.0.0.1:1883'),
        tlsListen: hostPortSchema.optional(),
        tlsCert: z.string().min(1).optional(),
        tlsKey: z.string().min(1).optional(),
        tlsCa: z.string().min(1).optional(),
        tlsRequireClientCert: z.union([z.boolean(), z.stringbool()]).default(false),
        wsListen: hostPortSchema.optional(),
        wsPath: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
        dataDir: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        aclFile: z.string().min(1).optional(),
        maxConnections: z.coerce.number().int().min(1).optional(),
        drainTimeout: duration('10s'),
        httpListen: hostPortSchema.optional(),
      })
      .strict()
      .prefault({}),
    correlation: z
      .object({
        requestTimeout: duration('10s'),
        lateWindow: z.string().optional(),
        sweepInterval: duration('100ms'),
      })
      .strict()
      .prefault({}),
    fleet: z
      .object({
        deviceTimeout: duration('10m'),
      })
      .strict()
      .prefault({}),
    stats: z
      .object({
        window: duration('5m'),
        windowSlots: count(10, 2),
        rankingSize: count(10),
        rankingMinRequests: count(10),
        latencyBuckets: z
          .array(z.number().positive())
          .min(1)
          .default([0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60])
          .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: 'buckets must increase' }),
        objectiveResponseRate: z.coerce.number().gt(0).lte(1).default(0.99),
        objectiveP95: duration('2s'),
        trendBaseline: duration('1h'),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxDevices: count(200_000),
        maxSymbols: count(5000),
        maxStreams: count(100),
        maxPendingPerDevice: count(32, 16),
        maxPendingTotal: count(1_000_000),
        maxPayloadBytes: count(16_384, 256),
        maxLabelValues: count(500),
      })
      .strict()
      .prefault({}),
    perDeviceMetrics: z
      .object({
        devices: z
          .array(z.string().regex(/^[0-9A-F]{12}$/, 'device ids are 12 upper-case hex digits'))
          .default([]),
        max: count(0, 0),
      })
      .strict()
      .prefault({}),
    streams: z
      .object({
        rules: z.array(streamRule).default([]),
      })
      .strict()
      .prefault({}),
    // The HTTP server's limits: timeouts, connection and response caps, the API's rate limit.
    http: z
      .object({
        maxConnections: count(512),
        headersTimeout: duration('10s'),
        requestTimeout: duration('30s'),
        idleTimeout: duration('30s'),
        sendTimeout: duration('30s'),
        maxConcurrentResponses: count(64),
        apiRateLimit: z.coerce.number().min(0).default(20),
        apiRateBurst: count(40),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        tokenFile: z.string().optional(),
      })
      .strict()
      .prefault({}),
    state: z
      .object({
        dir: z.string().min(1).optional(),
        interval: duration('10s'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .transform((c, ctx) => {
    let lateWindowMs = c.correlation.requestTimeout;
    if (c.correlation.lateWindow !== undefined) {
      const ms = parseDuration(c.correlation.lateWindow);
      if (ms === undefined || ms < c.correlation.requestTimeout) {
        ctx.addIssue({
          code: 'custom',
          path: ['correlation', 'lateWindow'],
          message: `expected a duration of at least the request timeout (${formatDuration(c.correlation.requestTimeout)}), got "${c.correlation.lateWindow}"`,
        });
        return z.NEVER;
      }
      lateWindowMs = ms;
    }
    if (c.mqtt.reconnectMax < c.mqtt.reconnectMin) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', 'reconnectMax'],
        message: 'must be at least mqtt.reconnectMin',
      });
      return z.NEVER;
    }
    if (c.http.headersTimeout > c.http.requestTimeout) {
      ctx.addIssue({
        code: 'custom',
        path: ['http', 'headersTimeout'],
        message: `must be at most http.requestTimeout (${formatDuration(c.http.requestTimeout)}): the headers are part of the request`,
      });
      return z.NEVER;
    }
    return { ...c, correlation: { ...c.correlation, lateWindow: lateWindowMs } };
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
