import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';

/** How a value is shown in a message: strings quoted, the rest as JSON. */
const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * A duration with a unit (`10s`); `why` says what the setting is for, so that a value refused
 * for its range says why the range is what it is. With `zero`, 0 (`0ms`) is allowed too, and
 * `why` says what it means (`or 0ms to read every message at once`).
 */
const duration = (fallback: string, why: string, { zero = false } = {}) =>
  z
    .unknown()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = typeof value === 'string' ? parseDuration(value) : undefined;
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as ${fallback} (a number and ms, s, m, h or d)${zero ? `, ${why}` : ''}, got ${shown(value)}`,
        });
        return z.NEVER;
      }
      if (ms === 0 && !zero) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a positive duration such as ${fallback}; ${why}, got ${shown(value)}`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** A whole number of at least `min` (from YAML, or text from a flag or the environment). */
const wholeNumber = (min: number, why?: string) =>
  z.unknown().transform((value, ctx) => {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && /^\s*\+?\d+\s*$/.test(value)
          ? Number(value)
          : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `expected a whole number, got ${shown(value)}` });
      return z.NEVER;
    }
    if (n < min) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at least ${min}${why === undefined ? '' : `; ${why}`}, got ${n}`,
      });
      return z.NEVER;
    }
    return n;
  });

const count = (fallback: number, min = 1, why?: string) => wholeNumber(min, why).default(fallback);

/** A number (from YAML, or text from a flag or the environment) that `allowed` accepts. */
const decimal = (fallback: number, allowed: (n: number) => boolean, message: string) =>
  z
    .unknown()
    .default(fallback)
    .transform((value, ctx) => {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : Number.NaN;
      if (!allowed(n)) {
        ctx.addIssue({ code: 'custom', message: `${message}, got ${shown(value)}` });
        return z.NEVER;
      }
      return n;
    });

/** `true` or `false`; from text also `1` and `0`. */
const flag = (fallback: boolean) =>
  z
    .unknown()
    .default(fallback)
    .transform((value, ctx) => {
      if (value === true || value === 'true' || value === '1') return true;
      if (value === false || value === 'false' || value === '0') return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got ${shown(value)}` });
      return z.NEVER;
    });

/** `HOST:PORT` or `[v6]:PORT`; an empty host is every interface. */
function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535) return undefined;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export const hostPortSchema = (example: string) =>
  z.unknown().transform((value, ctx) => {
    const hp = typeof value === 'string' ? parseHostPort(value) : undefined;
    if (hp === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected HOST:PORT such as ${example}, got ${shown(value)}` });
      return z.NEVER;
    }
    return hp;
  });

/** A listener that may be turned off. */
const hostPortOrOffSchema = (example: string) =>
  z.unknown().transform((value, ctx) => {
    if (value === 'off') return 'off' as const;
    const hp = typeof value === 'string' ? parseHostPort(value) : undefined;
    if (hp === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected HOST:PORT such as ${example}, or off, got ${shown(value)}`,
      });
      return z.NEVER;
    }
    return hp;
  });

export type HostPort = { host: string; port: number };

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

/**
 * The stream rules used when `streams.rules` is not set (an explicit `[]` means none): the
 * symbols whose backend follows from their form (docs/protocol.md). Pairs such as `BTC/USD`,
 * `ETH/EUR` or `bitcoin/USD` are served by `coingecko`; the metals gold, silver, platinum and
 * palladium (`XAU`, `XAG`, `XPT`, `XPD`) by `commodities-api`. examples/tkmprom.yaml lists the same
 * rules (a test checks it). An `HTTPSTREAMSTOCKS` hand-off naming another stream still wins.
 */
export const DEFAULT_STREAM_RULES: readonly Readonly<{
  symbol?: string;
  pattern?: string;
  stream: string;
}>[] = Object.freeze([
  { pattern: '^[A-Za-z0-9.-]+/[A-Za-z0-9.-]+$', stream: 'coingecko' },
  { symbol: 'XAU', stream: 'commodities-api' },
  { symbol: 'XAG', stream: 'commodities-api' },
  { symbol: 'XPT', stream: 'commodities-api' },
  { symbol: 'XPD', stream: 'commodities-api' },
]);

/** The default port: not Prometheus (9090), Pushgateway (9091), Alertmanager (9093), node_exporter (9100). */
export const DEFAULT_PORT = 9883;

/** The settings' shape, before the checks that span several settings. */
const configObject = z
  .object({
    mqtt: z
      .object({
        url: z
          .string()
          .default('mqtt://127.0.0.1:1883')
          .refine((u) => /^(mqtts?|wss?|tcp|ssl):\/\/[^/\s]+/.test(u), {
            message: 'expected a URL such as mqtt://127.0.0.1:1883 (mqtt://, mqtts://, ws:// or wss://)',
          }),
        username: z.string().optional(),
        password: z.string().optional(),
        clientId: z
          .string()
          .min(1, 'must not be empty')
          .max(128, 'must be at most 128 characters')
          .optional(),
        keepalive: duration('30s', 'the client pings the broker at this interval'),
        protocolVersion: z
          .unknown()
          .default(4)
          .transform((value, ctx) => {
            if (value === 4 || value === '4') return 4 as const;
            if (value === 5 || value === '5') return 5 as const;
            ctx.addIssue({
              code: 'custom',
              message: `must be 4 (MQTT 3.1.1) or 5 (MQTT 5), got ${shown(value)}`,
            });
            return z.NEVER;
          }),
        caFile: z.string().optional(),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        rejectUnauthorized: flag(true),
        reconnectMin: duration('1s', 'a reconnect waits at least this long'),
        reconnectMax: duration('2s', 'the reconnect backoff doubles up to this'),
        batchWindow: duration('50ms', 'or 0ms to read every message at once', { zero: true }),
        silenceTimeout: duration('60s', 'or 0s to turn the silence watch off', { zero: true }),
      })
      .strict()
      .prefault({}),
    listen: hostPortSchema(`127.0.0.1:${DEFAULT_PORT}`).prefault(`0.0.0.0:${DEFAULT_PORT}`),
    // Scaled out: read one partition of the fleet from NATS JetStream instead of MQTT
    // (README "Scaling out"). `partition` takes `I/N`, which sets `partitions` too.
    source: z
      .object({
        nats: z
          .object({
            url: z
              .string()
              .refine((u) => /^(nats|tls):\/\/[^/\s]+$/.test(u), {
                message: 'expected nats://host:port or tls://host:port',
              })
              .optional(),
            username: z.string().min(1).default('tkmprom'),
            password: z.string().optional(),
            partition: z
              .union([z.number(), z.string()])
              .optional()
              .transform((v, ctx) => {
                if (v === undefined) return undefined;
                const m = /^(\d+)(?:\/(\d+))?$/.exec(String(v).trim());
                if (m === null) {
                  ctx.addIssue({
                    code: 'custom',
                    message: `expected I/N such as 0/3 (I from 0), got "${v}"`,
                  });
                  return z.NEVER;
                }
                return { index: Number(m[1]), count: m[2] === undefined ? undefined : Number(m[2]) };
              }),
            partitions: z.coerce.number().int().min(1).max(1024).optional(),
            stream: z
              .string()
              .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - only (a JetStream stream name)')
              .default('TKM'),
            durable: z
              .string()
              .regex(
                /^[A-Za-z0-9_-]{1,32}$/,
                'letters, digits, _ and - only (a JetStream consumer name prefix)',
              )
              .default('tkmprom'),
            reorderWindow: duration('500ms', 'or 0ms to hand messages on as they come', { zero: true }),
            maxAge: duration('24h', 'the stream keeps messages this long for an instance that is down'),
            replicas: z.coerce.number().int().min(1).max(5).default(1),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    embeddedBroker: hostPortSchema('127.0.0.1:1883').optional(),
    // One broker section for `tkmprom broker`, `run --embedded-broker` and `demo`: the plain
    // listener is `broker.listen` for the first, the embedded address for the others.
    broker: z
      .object({
        listen: hostPortOrOffSchema('127.0.0.1:1883').prefault('127.0.0.1:1883'),
        tlsListen: hostPortSchema('0.0.0.0:8883').optional(),
        tlsCert: z.string().min(1).optional(),
        tlsKey: z.string().min(1).optional(),
        tlsCa: z.string().min(1).optional(),
        tlsRequireClientCert: flag(false),
        wsListen: hostPortSchema('0.0.0.0:8080').optional(),
        wsPath: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
        dataDir: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
        aclFile: z.string().min(1).optional(),
        maxConnections: wholeNumber(1).optional(),
        drainTimeout: duration('10s', 'a subscriber gets this long to drain its socket'),
        sysInterval: duration('10s', 'or 0s for no $SYS topics', { zero: true }).refine(
          (ms) => ms === 0 || ms >= 1000,
          { message: 'expected 0s (no $SYS topics) or at least 1s' },
        ),
        httpListen: hostPortSchema('127.0.0.1:9884').optional(),
      })
      .strict()
      .prefault({}),
    correlation: z
      .object({
        requestTimeout: duration('10s', 'a request needs time to be answered'),
        lateWindow: z.string().optional(),
        sweepInterval: duration('100ms', 'timeouts are looked for this often'),
      })
      .strict()
      .prefault({}),
    fleet: z
      .object({
        deviceTimeout: duration('10m', 'a device needs time to be heard from'),
      })
      .strict()
      .prefault({}),
    stats: z
      .object({
        window: duration('5m', 'the gauges are computed over this window'),
        windowSlots: count(
          10,
          2,
          'the window slides in window / windowSlots steps, and one slot would not slide',
        ),
        rankingSize: count(10),
        rankingMinRequests: count(10),
        rankingMetric: flag(true),
        latencyBuckets: z
          .array(z.number().positive())
          .min(1)
          .default([0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60])
          .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: 'buckets must increase' }),
        histograms: z.enum(['native', 'classic', 'both']).default('native'),
        windowLatencyGauges: z.enum(['with-classic', 'always']).default('with-classic'),
        objectiveResponseRate: decimal(
          0.99,
          (n) => n > 0 && n <= 1,
          'must be a share above 0 and at most 1 such as 0.99 (99 % answered)',
        ),
        objectiveP95: duration('2s', 'the health score compares the p95 latency with it'),
        trendBaseline: duration('1h', 'the trend compares the window with this much history'),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxDevices: count(200_000),
        maxSymbols: count(5000),
        maxStreams: count(100),
        maxPendingPerDevice: count(
          32,
          16,
          'fewer would evict the requests of a device that asks in quick succession before their replies come',
        ),
        maxPendingTotal: count(1_000_000),
        maxPayloadBytes: count(16_384, 256, "fewer would refuse the protocol's ordinary messages"),
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
        rules: z.array(streamRule).default(() => DEFAULT_STREAM_RULES.map((r) => ({ ...r }))),
      })
      .strict()
      .prefault({}),
    // The HTTP server: the exporter-toolkit web configuration (TLS, basic auth), as node_exporter
    // reads it; timeouts, connection and response caps, the API's rate limit.
    http: z
      .object({
        webConfigFile: z.string().min(1).optional(),
        maxConnections: count(512),
        headersTimeout: duration('10s', 'a client that has not sent its headers by then gets 408'),
        requestTimeout: duration('30s', 'a client that has not sent its request by then gets 408'),
        idleTimeout: duration('30s', 'an idle keep-alive connection is closed after it'),
        sendTimeout: duration('30s', 'a client that has not taken its response by then is dropped'),
        maxConcurrentResponses: count(64),
        apiRateLimit: decimal(20, (n) => n >= 0, 'expected requests a second, 0 or more (0: no limit)'),
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
        interval: duration('10s', 'the state snapshot is written this often'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
            error: 'expected one of fatal, error, warn, info, debug, trace, silent',
          })
          .default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const configSchema = configObject.transform((c, ctx) => {
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
  const nats = c.source.nats;
  const partitions = nats.partition?.count ?? nats.partitions;
  if (nats.partition !== undefined) {
    if (partitions === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'nats', 'partition'],
        message: `give the number of partitions too, as I/N (such as ${nats.partition.index}/3) or with source.nats.partitions`,
      });
      return z.NEVER;
    }
    if (nats.partition.index >= partitions || partitions > 1024 || partitions < 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'nats', 'partition'],
        message: `expected I/N with I from 0 to N-1 and N from 1 to 1024, got ${nats.partition.index}/${partitions}`,
      });
      return z.NEVER;
    }
  }
  if (nats.partition !== undefined && nats.url === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['source', 'nats', 'url'],
      message: 'a partition to read needs the NATS server: give source.nats.url (--nats-url)',
    });
    return z.NEVER;
  }
  return {
    ...c,
    source: {
      nats: {
        ...nats,
        partition: nats.partition?.index,
        partitions,
      },
    },
    correlation: { ...c.correlation, lateWindow: lateWindowMs },
  };
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

type Node = { _zod: { def: Record<string, unknown> & { type: string } } };

/**
 * The setting keys allowed at `path` (`['stats']` → window, windowSlots, ...; `[]` → the top
 * level; `['streams', 'rules', 0]` → a rule's keys), or undefined where the schema has no
 * mapping. Unknown keys are matched against these for a "did you mean".
 */
export function settingKeysAt(path: readonly (string | number)[]): string[] | undefined {
  let node = configObject as unknown as Node;
  for (let i = 0; ; ) {
    const def = node._zod.def;
    if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional') {
      node = def.innerType as Node;
    } else if (def.type === 'pipe') {
      node = def.in as Node;
    } else if (i === path.length) {
      return def.type === 'object' ? Object.keys(def.shape as object) : undefined;
    } else if (def.type === 'object') {
      const child = (def.shape as Record<string, Node>)[String(path[i++])];
      if (child === undefined) return undefined;
      node = child;
    } else if (def.type === 'array' && typeof path[i] === 'number') {
      node = def.element as Node;
      i++;
    } else {
      return undefined;
    }
  }
}

/** Every setting's dotted path (`stats.window`), for a key written at the wrong level. */
export function settingPaths(prefix: readonly string[] = []): string[] {
  const keys = settingKeysAt(prefix) ?? [];
  return keys.flatMap((k) => {
    const below = settingKeysAt([...prefix, k]);
    return below === undefined ? [[...prefix, k].join('.')] : settingPaths([...prefix, k]);
  });
}
