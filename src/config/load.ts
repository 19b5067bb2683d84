import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { type Config, configSchema, settingKeysAt, settingPaths } from './schema.js';
import { describeSecret, isSecretSetting, redactUrl } from './secrets.js';
import { closest } from './suggest.js';

/**
 * One setting that flags and environment variables can set. The same table drives parsing,
 * precedence, `--help` and the README's configuration reference.
 */
export interface SettingSpec {
  path: string;
  flag?: string;
  env?: string;
  kind: 'string' | 'number' | 'boolean';
  help: string;
  /** A setting of `tkmprom broker` alone: `run` and `demo` neither take nor list its flag. */
  brokerOnly?: true;
}

export const SETTINGS: readonly SettingSpec[] = [
  {
    path: 'mqtt.url',
    flag: 'mqtt-url',
    env: 'TKMPROM_MQTT_URL',
    kind: 'string',
    help: 'broker to read the fleet from (mqtt://, mqtts://, ws://, wss://)',
  },
  { path: 'mqtt.username', env: 'TKMPROM_MQTT_USERNAME', kind: 'string', help: 'broker user name' },
  {
    path: 'mqtt.password',
    env: 'TKMPROM_MQTT_PASSWORD',
    kind: 'string',
    help: 'broker password (environment or config file only)',
  },
  {
    path: 'mqtt.clientId',
    flag: 'mqtt-client-id',
    env: 'TKMPROM_MQTT_CLIENT_ID',
    kind: 'string',
    help: 'MQTT client id (default: tkmprom-<random>)',
  },
  {
    path: 'mqtt.keepalive',
    flag: 'mqtt-keepalive',
    env: 'TKMPROM_MQTT_KEEPALIVE',
    kind: 'string',
    help: 'MQTT keepalive (default 30s)',
  },
  {
    path: 'mqtt.batchWindow',
    flag: 'mqtt-batch-window',
    env: 'TKMPROM_MQTT_BATCH_WINDOW',
    kind: 'string',
    help: 'at light traffic, read the broker at most this often (default 50ms; 0ms reads every message at once)',
  },
  {
    path: 'mqtt.silenceTimeout',
    flag: 'mqtt-silence-timeout',
    env: 'TKMPROM_MQTT_SILENCE_TIMEOUT',
    kind: 'string',
    help: 'reconnect when a feed that carried messages falls silent this long at most; sooner for a fast feed (default 60s; 0s: off)',
  },
  {
    path: 'mqtt.protocolVersion',
    flag: 'mqtt-protocol-version',
    env: 'TKMPROM_MQTT_PROTOCOL_VERSION',
    kind: 'number',
    help: '4 (MQTT 3.1.1, default) or 5',
  },
  {
    path: 'mqtt.caFile',
    flag: 'mqtt-ca',
    env: 'TKMPROM_MQTT_CA',
    kind: 'string',
    help: 'CA certificate file for mqtts://',
  },
  {
    path: 'mqtt.certFile',
    flag: 'mqtt-cert',
    env: 'TKMPROM_MQTT_CERT',
    kind: 'string',
    help: 'client certificate file for mqtts://',
  },
  {
    path: 'mqtt.keyFile',
    flag: 'mqtt-key',
    env: 'TKMPROM_MQTT_KEY',
    kind: 'string',
    help: 'client key file for mqtts://',
  },
  {
    path: 'source.nats.url',
    flag: 'nats-url',
    env: 'TKMPROM_NATS_URL',
    kind: 'string',
    help: 'read the fleet from this NATS server (nats://HOST:PORT) instead of MQTT, with --partition',
  },
  {
    path: 'source.nats.partition',
    flag: 'partition',
    env: 'TKMPROM_NATS_PARTITION',
    kind: 'string',
    help: 'the partition I of N this exporter reads, as I/N (I from 0)',
  },
  {
    path: 'source.nats.partitions',
    flag: 'partitions',
    env: 'TKMPROM_NATS_PARTITIONS',
    kind: 'number',
    help: 'the number of partitions N (also given by --partition I/N)',
  },
  {
    path: 'source.nats.username',
    env: 'TKMPROM_NATS_USERNAME',
    kind: 'string',
    help: 'NATS user (default tkmprom)',
  },
  {
    path: 'source.nats.password',
    env: 'TKMPROM_NATS_PASSWORD',
    kind: 'string',
    help: 'NATS password (environment or config file only)',
  },
  {
    path: 'source.nats.stream',
    flag: 'nats-stream',
    env: 'TKMPROM_NATS_STREAM',
    kind: 'string',
    help: 'JetStream stream name prefix: partition I is PREFIX_I (default TKM)',
  },
  {
    path: 'source.nats.durable',
    flag: 'nats-durable',
    env: 'TKMPROM_NATS_DURABLE',
    kind: 'string',
    help: 'durable consumer name prefix: partition I reads as PREFIX_I (default tkmprom)',
  },
  {
    path: 'source.nats.reorderWindow',
    flag: 'nats-reorder-window',
    env: 'TKMPROM_NATS_REORDER_WINDOW',
    kind: 'string',
    help: 'hold NATS messages this long to put them back in the order they were sent (default 500ms)',
  },
  {
    path: 'listen',
    flag: 'listen',
    env: 'TKMPROM_LISTEN',
    kind: 'string',
    help: 'HTTP listen address for /metrics, the API and the page (default 0.0.0.0:9883)',
  },
  {
    path: 'embeddedBroker',
    flag: 'embedded-broker',
    env: 'TKMPROM_EMBEDDED_BROKER',
    kind: 'string',
    help: 'run an MQTT broker in-process on HOST:PORT and read from it',
  },
  {
    path: 'broker.listen',
    flag: 'broker-listen',
    env: 'TKMPROM_BROKER_LISTEN',
    brokerOnly: true,
    kind: 'string',
    help: 'tkmprom broker: plain MQTT listener (default 127.0.0.1:1883; "off" for none)',
  },
  {
    path: 'broker.tlsListen',
    flag: 'broker-tls-listen',
    env: 'TKMPROM_BROKER_TLS_LISTEN',
    kind: 'string',
    help: 'broker: MQTT over TLS listener; needs the certificate and key',
  },
  {
    path: 'broker.tlsCert',
    flag: 'broker-tls-cert',
    env: 'TKMPROM_BROKER_TLS_CERT',
    kind: 'string',
    help: 'broker: PEM certificate (with chain) for the TLS listener',
  },
  {
    path: 'broker.tlsKey',
    flag: 'broker-tls-key',
    env: 'TKMPROM_BROKER_TLS_KEY',
    kind: 'string',
    help: 'broker: PEM private key for the TLS listener',
  },
  {
    path: 'broker.tlsCa',
    flag: 'broker-tls-ca',
    env: 'TKMPROM_BROKER_TLS_CA',
    kind: 'string',
    help: 'broker: PEM CA bundle for client certificates',
  },
  {
    path: 'broker.tlsRequireClientCert',
    flag: 'broker-tls-require-client-cert',
    env: 'TKMPROM_BROKER_TLS_REQUIRE_CLIENT_CERT',
    kind: 'boolean',
    help: 'broker: refuse TLS clients without a certificate signed by the CA',
  },
  {
    path: 'broker.wsListen',
    flag: 'broker-ws-listen',
    env: 'TKMPROM_BROKER_WS_LISTEN',
    kind: 'string',
    help: 'broker: MQTT over WebSocket listener',
  },
  {
    path: 'broker.wsPath',
    flag: 'broker-ws-path',
    env: 'TKMPROM_BROKER_WS_PATH',
    kind: 'string',
    help: 'broker: accept WebSocket upgrades only on this path',
  },
  {
    path: 'broker.dataDir',
    flag: 'broker-data-dir',
    env: 'TKMPROM_BROKER_DATA_DIR',
    kind: 'string',
    help: 'broker: keep retained messages, sessions and wills in this directory',
  },
  {
    path: 'broker.passwordFile',
    flag: 'broker-password-file',
    env: 'TKMPROM_BROKER_PASSWORD_FILE',
    kind: 'string',
    help: 'broker: require a user name and password from this file',
  },
  {
    path: 'broker.aclFile',
    flag: 'broker-acl-file',
    env: 'TKMPROM_BROKER_ACL_FILE',
    kind: 'string',
    help: 'broker: topic ACL (YAML), per user with a password file, else for anonymous clients',
  },
  {
    path: 'broker.maxConnections',
    flag: 'broker-max-connections',
    env: 'TKMPROM_BROKER_MAX_CONNECTIONS',
    kind: 'number',
    help: 'broker: refuse connections beyond this many',
  },
  {
    path: 'broker.drainTimeout',
    flag: 'broker-drain-timeout',
    env: 'TKMPROM_BROKER_DRAIN_TIMEOUT',
    kind: 'string',
    help: 'broker: drop a subscriber whose socket stops draining for this long (default 10s)',
  },
  {
    path: 'broker.sysInterval',
    flag: 'broker-sys-interval',
    env: 'TKMPROM_BROKER_SYS_INTERVAL',
    kind: 'string',
    help: 'broker: publish the $SYS/broker/... topics this often (default 10s; 0s for none)',
  },
  {
    path: 'broker.httpListen',
    flag: 'broker-http-listen',
    env: 'TKMPROM_BROKER_HTTP_LISTEN',
    brokerOnly: true,
    kind: 'string',
    help: 'tkmprom broker: HTTP address for /metrics and /healthz',
  },
  {
    path: 'correlation.requestTimeout',
    flag: 'request-timeout',
    env: 'TKMPROM_REQUEST_TIMEOUT',
    kind: 'string',
    help: "a request with no reply within this is a timeout (default 10s, the device's own wait)",
  },
  {
    path: 'correlation.lateWindow',
    flag: 'late-window',
    env: 'TKMPROM_LATE_WINDOW',
    kind: 'string',
    help: 'how long timed-out requests wait for a late reply (default: the request timeout)',
  },
  {
    path: 'fleet.deviceTimeout',
    flag: 'device-timeout',
    env: 'TKMPROM_DEVICE_TIMEOUT',
    kind: 'string',
    help: 'a device not heard within this is offline (default 10m)',
  },
  {
    path: 'stats.window',
    flag: 'window',
    env: 'TKMPROM_WINDOW',
    kind: 'string',
    help: 'sliding window of the per-symbol gauges (default 5m)',
  },
  {
    path: 'stats.rankingMetric',
    flag: 'ranking-metric',
    env: 'TKMPROM_STATS_RANKING_METRIC',
    kind: 'boolean',
    help: 'export tickrmeter_slowest_symbols_ranking (default true); false saves its churning series, the API and page keep the ranking',
  },
  {
    path: 'stats.histograms',
    flag: 'histograms',
    env: 'TKMPROM_STATS_HISTOGRAMS',
    kind: 'string',
    help: 'latency histograms for protobuf scrapers: native (default), classic or both; text scrapers always get classic',
  },
  {
    path: 'stats.windowLatencyGauges',
    flag: 'window-latency-gauges',
    env: 'TKMPROM_STATS_WINDOW_LATENCY_GAUGES',
    kind: 'string',
    help: 'where the window mean/p95/p99 gauges go: with-classic (default: beside classic buckets, not beside native histograms alone) or always',
  },
  {
    path: 'limits.maxDevices',
    flag: 'max-devices',
    env: 'TKMPROM_MAX_DEVICES',
    kind: 'number',
    help: 'devices tracked at most (default 200000)',
  },
  {
    path: 'limits.maxSymbols',
    flag: 'max-symbols',
    env: 'TKMPROM_MAX_SYMBOLS',
    kind: 'number',
    help: 'distinct symbol labels before _other (default 5000)',
  },
  {
    path: 'perDeviceMetrics.max',
    flag: 'per-device-metrics',
    env: 'TKMPROM_PER_DEVICE_METRICS',
    kind: 'number',
    help: 'export per-device series for at most this many devices (default 0: none)',
  },
  {
    path: 'http.webConfigFile',
    flag: 'web.config.file',
    env: 'TKMPROM_WEB_CONFIG_FILE',
    kind: 'string',
    help: 'TLS and basic auth of the HTTP server, in the web config format of node_exporter',
  },
  {
    path: 'http.maxConnections',
    flag: 'http-max-connections',
    env: 'TKMPROM_HTTP_MAX_CONNECTIONS',
    kind: 'number',
    help: 'HTTP: connections open at once; beyond, new ones are refused (default 512)',
  },
  {
    path: 'http.headersTimeout',
    flag: 'http-headers-timeout',
    env: 'TKMPROM_HTTP_HEADERS_TIMEOUT',
    kind: 'string',
    help: 'HTTP: time a client has to send the request line and headers (default 10s)',
  },
  {
    path: 'http.requestTimeout',
    flag: 'http-request-timeout',
    env: 'TKMPROM_HTTP_REQUEST_TIMEOUT',
    kind: 'string',
    help: 'HTTP: time a client has to send the whole request (default 30s)',
  },
  {
    path: 'http.idleTimeout',
    flag: 'http-idle-timeout',
    env: 'TKMPROM_HTTP_IDLE_TIMEOUT',
    kind: 'string',
    help: 'HTTP: close a keep-alive connection idle this long (default 30s)',
  },
  {
    path: 'http.sendTimeout',
    flag: 'http-send-timeout',
    env: 'TKMPROM_HTTP_SEND_TIMEOUT',
    kind: 'string',
    help: 'HTTP: drop a client that has not taken its whole response within this (default 30s)',
  },
  {
    path: 'http.maxConcurrentResponses',
    flag: 'http-max-concurrent-responses',
    env: 'TKMPROM_HTTP_MAX_CONCURRENT_RESPONSES',
    kind: 'number',
    help: 'HTTP: /metrics and API responses in progress at once; beyond, 503 (default 64)',
  },
  {
    path: 'http.apiRateLimit',
    flag: 'http-api-rate-limit',
    env: 'TKMPROM_HTTP_API_RATE_LIMIT',
    kind: 'number',
    help: 'HTTP: API requests per second per client address; beyond the burst, 429 (default 20; 0: off)',
  },
  {
    path: 'http.apiRateBurst',
    flag: 'http-api-rate-burst',
    env: 'TKMPROM_HTTP_API_RATE_BURST',
    kind: 'number',
    help: 'HTTP: API requests a client may make at once before the rate applies (default 40)',
  },
  {
    path: 'api.tokenFile',
    flag: 'api-token-file',
    env: 'TKMPROM_API_TOKEN_FILE',
    kind: 'string',
    help: 'require this bearer token for the API and the status page',
  },
  {
    path: 'state.dir',
    flag: 'state-dir',
    env: 'TKMPROM_STATE_DIR',
    kind: 'string',
    help: 'keep the fleet, windows and trends in DIR across restarts (default: off)',
  },
  {
    path: 'state.interval',
    flag: 'state-interval',
    env: 'TKMPROM_STATE_INTERVAL',
    kind: 'string',
    help: 'how often the state is saved, and at every stop (default 10s)',
  },
  {
    path: 'log.level',
    flag: 'log-level',
    env: 'TKMPROM_LOG_LEVEL',
    kind: 'string',
    help: 'fatal, error, warn, info (default), debug, trace, silent',
  },
];

export interface ConfigSources {
  /** Path of a YAML file, from --config or TKMPROM_CONFIG. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by flag name (without dashes), as parseArgs returns them. */
  flags?: Record<string, string | boolean | undefined>;
  /**
   * How a command spells a setting's flag, where it differs from the table: `tkmprom broker`
   * says `--tls-listen` for `--broker-tls-listen`. Errors name the flag the user typed.
   */
  flagNames?: Record<string, string>;
}

type Raw = Record<string, unknown>;

/** Where a setting's value came from, as the user wrote it: `--window`, `TKMPROM_WINDOW`, `FILE line 3`. */
interface Origin {
  kind: 'flag' | 'env' | 'file';
  name: string;
}

interface Loaded {
  origins: Map<string, Origin>;
  flagNames: Record<string, string> | undefined;
}

/** Each loaded configuration's origins, for errors raised after loading (a taken port). */
const LOADED = new WeakMap<Config, Loaded>();

/**
 * Builds the configuration: defaults, then the file, then the environment, then flags, each
 * overriding the one before. Throws TkmpromError naming the field, where it came from (the flag,
 * the variable or the file and line), the value and what is allowed; secrets are never shown.
 */
export function loadConfig(sources: ConfigSources): Config {
  const raw: Raw = {};
  const origins = new Map<string, Origin>();
  let lines = new Map<string, number>();
  if (sources.file !== undefined) {
    const file = sources.file;
    const read = readConfigFile(file);
    lines = read.lines;
    mergeInto(raw, read.doc, '', (path) =>
      origins.set(path, { kind: 'file', name: `${file} line ${lines.get(path) ?? 1}` }),
    );
  }
  const env = sources.env ?? {};
  for (const s of SETTINGS) {
    const v = s.env === undefined ? undefined : env[s.env];
    if (v !== undefined && v !== '') {
      setPath(raw, s.path, v);
      origins.set(s.path, { kind: 'env', name: s.env! });
    }
  }
  const flags = sources.flags ?? {};
  for (const s of SETTINGS) {
    const v = s.flag === undefined ? undefined : flags[s.flag];
    if (v !== undefined) {
      setPath(raw, s.path, v);
      origins.set(s.path, { kind: 'flag', name: sources.flagNames?.[s.flag!] ?? `--${s.flag}` });
    }
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw configError(result.error, raw, origins, sources.file, lines);
  LOADED.set(result.data, { origins, flagNames: sources.flagNames });
  return result.data;
}

/**
 * The name of a setting as the user gave it, for errors raised once the configuration is loaded:
 * the flag or the environment variable, or the key and the file's line; for a default, the
 * command's flag for it, else its key.
 */
export function settingName(config: Config, path: string): string {
  const loaded = LOADED.get(config);
  const origin = loaded?.origins.get(path);
  if (origin?.kind === 'file') return `${path} (${origin.name})`;
  if (origin !== undefined) return origin.name;
  const flag = SETTINGS.find((s) => s.path === path)?.flag;
  if (flag === undefined) return path;
  return loaded?.flagNames?.[flag] ?? `--${flag}`;
}

function readConfigFile(file: string): { doc: Raw; lines: Map<string, number> } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_UNREADABLE,
      `cannot read config file ${file} (${why}); check the path given to --config or TKMPROM_CONFIG`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const bad = doc.errors[0];
  if (bad !== undefined) {
    const at = bad.linePos?.[0];
    const where = at === undefined ? '' : `, line ${at.line}, column ${at.col}`;
    const reason = bad.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_SYNTAX,
      `config file ${file}${where}: not valid YAML: ${reason}; fix the file there`,
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return { doc: {}, lines: new Map() };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_SYNTAX,
      `config file ${file} must hold a mapping of settings (such as \`stats:\` with \`window: 5m\` below it), got ${Array.isArray(value) ? 'a list' : 'a single value'}`,
    );
  }
  const lines = new Map<string, number>();
  collectLines(doc.contents, '', lineCounter, lines);
  return { doc: value as Raw, lines };
}

/** The line of every key and list entry of the file, by dotted path (`streams.rules.0.pattern`). */
function collectLines(node: unknown, prefix: string, counter: LineCounter, lines: Map<string, number>): void {
  const join = (k: string | number) => (prefix === '' ? String(k) : `${prefix}.${k}`);
  const lineOf = (n: unknown) => {
    const start = (n as Node | null)?.range?.[0];
    return start === undefined ? undefined : counter.linePos(start).line;
  };
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const line = lineOf(pair.key);
      if (line !== undefined) lines.set(join(key), line);
      collectLines(pair.value, join(key), counter, lines);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const line = lineOf(item);
      if (line !== undefined) lines.set(join(i), line);
      collectLines(item, join(i), counter, lines);
    });
  }
}

function mergeInto(target: Raw, source: Raw, prefix: string, record: (path: string) => void): void {
  for (const [k, v] of Object.entries(source)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    // A key left empty in YAML (`api:` with only comments below) means "not set".
    if (v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const child = (target[k] ?? {}) as Raw;
      target[k] = child;
      mergeInto(child, v as Raw, path, record);
    } else {
      target[k] = v;
      record(path);
    }
  }
}

function setPath(target: Raw, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Raw;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(source: Raw, path: readonly PropertyKey[]): unknown {
  let node: unknown = source;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Raw)[p as string];
  }
  return node;
}

/** A value as a message shows it: JSON, with a URL's password masked. */
const shown = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(redactUrl(value)) : (JSON.stringify(value) ?? String(value));

/** Zod's own wording for the checks without a message of ours, in the words of this file. */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (!/^(Invalid|Too small|Too big)/.test(issue.message)) return issue.message;
  const kind = (t: string) =>
    t === 'array' ? 'a list' : t === 'object' ? 'a mapping' : t === 'boolean' ? 'true or false' : `a ${t}`;
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${kind(issue.expected)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'string')
        return Number(issue.minimum) <= 1
          ? 'must not be empty'
          : `must be at least ${issue.minimum} characters`;
      if (issue.origin === 'array')
        return `must have at least ${issue.minimum} entr${Number(issue.minimum) === 1 ? 'y' : 'ies'}`;
      return `must be ${issue.inclusive ? 'at least' : 'above'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `must have at most ${issue.maximum} entries`;
      return `must be ${issue.inclusive ? 'at most' : 'below'} ${issue.maximum}`;
    default:
      return issue.message;
  }
}

function configError(
  error: z.ZodError,
  raw: Raw,
  origins: Map<string, Origin>,
  file: string | undefined,
  lines: Map<string, number>,
): TkmpromError {
  /** The flag, variable or file line a path came from; for a list entry, the line of the entry. */
  const originOf = (path: string): string | undefined => {
    const exact = origins.get(path);
    if (exact !== undefined) return exact.name;
    if (file !== undefined && lines.has(path)) return `${file} line ${lines.get(path)}`;
    // Inside a list set as a whole (`streams.rules`): the nearest line known, else the list's origin.
    for (let p = path; p.includes('.'); ) {
      p = p.slice(0, p.lastIndexOf('.'));
      if (file !== undefined && lines.has(p)) return `${file} line ${lines.get(p)}`;
      const o = origins.get(p);
      if (o !== undefined) return o.name;
    }
    return undefined;
  };
  const label = (path: string) => {
    const from = originOf(path);
    return `${path || '(top level)'}${from === undefined ? '' : ` (${from})`}`;
  };
  const text = error.issues.flatMap((issue) => {
    const path = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => unknownKeyLine(issue.path, key, label));
    }
    const value = getPath(raw, issue.path);
    let message = plainMessage(issue);
    if (isSecretSetting(path)) {
      // Never the secret itself: messages of the schema's show a value only after "got".
      message = message.replace(/,? got .*$/s, '');
      if (value !== undefined) message += `, got ${describeSecret(value)}`;
    } else if (value !== undefined && !/\bgot /.test(message)) {
      message += `, got ${shown(value)}`;
    }
    return [`${label(path)}: ${message}`];
  });
  return new TkmpromError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${text.join('\n  ')}`);
}

/** `stats.windw (FILE line 3): unknown setting; did you mean \`window\`?` */
function unknownKeyLine(
  parent: readonly PropertyKey[],
  key: string,
  label: (path: string) => string,
): string {
  const here = parent.map(String);
  const path = [...here, key].join('.');
  const known = settingKeysAt(parent as (string | number)[]) ?? [];
  const near = closest(key, known);
  if (near !== undefined) return `${label(path)}: unknown setting; did you mean \`${near}\`?`;
  // The right name at the wrong level: `window:` at the top instead of under `stats:`.
  const paths = parent.some((p) => typeof p === 'number') ? [] : settingPaths();
  const leaf = (p: string) => p.slice(p.lastIndexOf('.') + 1);
  const elsewhere =
    paths.find((p) => leaf(p) === key) ?? paths.find((p) => closest(key, [leaf(p)]) !== undefined);
  if (elsewhere !== undefined) {
    return `${label(path)}: unknown setting; did you mean \`${elsewhere}\`?`;
  }
  const where = here.length === 0 ? 'at the top level' : `under ${here.join('.')}`;
  return `${label(path)}: unknown setting; the settings ${where} are ${known.join(', ')} (examples/tkmprom.yaml lists every setting)`;
}
