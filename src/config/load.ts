import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { type Config, configSchema } from './schema.js';

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
    help: 'broker: per-user topic ACL (YAML); needs the password file',
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

/**
 * Builds the configuration: defaults, then the file, then the environment, then flags, each
 * overriding the one before. Throws TkmpromError naming the field, the value, where it came
 * from and what is allowed.
 */
export function loadConfig(sources: ConfigSources): Config {
  const raw: Raw = {};
  const origin = new Map<string, string>();
  if (sources.file !== undefined) {
    const fromFile = readConfigFile(sources.file);
    mergeInto(raw, fromFile, '', origin, `config file ${sources.file}`);
  }
  const env = sources.env ?? {};
  for (const s of SETTINGS) {
    const v = s.env === undefined ? undefined : env[s.env];
    if (v !== undefined && v !== '') {
      setPath(raw, s.path, coerce(v, s.kind));
      origin.set(s.path, `environment variable ${s.env}`);
    }
  }
  const flags = sources.flags ?? {};
  for (const s of SETTINGS) {
    const v = s.flag === undefined ? undefined : flags[s.flag];
    if (v !== undefined) {
      setPath(raw, s.path, typeof v === 'string' ? coerce(v, s.kind) : v);
      origin.set(s.path, sources.flagNames?.[s.flag!] ?? `--${s.flag}`);
    }
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw configError(result.error, raw, origin);
  return result.data;
}

function readConfigFile(file: string): Raw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_UNREADABLE,
      `cannot read config file ${file}: ${(err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where =
      err instanceof YAMLParseError && err.linePos
        ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}`
        : '';
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_SYNTAX,
      `config file ${file} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new TkmpromError(
      ErrorCodes.CONFIG_FILE_SYNTAX,
      `config file ${file} must hold a mapping of settings`,
    );
  }
  return doc as Raw;
}

function mergeInto(
  target: Raw,
  source: Raw,
  prefix: string,
  origin: Map<string, string>,
  from: string,
): void {
  for (const [k, v] of Object.entries(source)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    // A key left empty in YAML (`api:` with only comments below) means "not set".
    if (v === null) continue;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const child = (target[k] ?? {}) as Raw;
      target[k] = child;
      mergeInto(child, v as Raw, path, origin, from);
    } else {
      target[k] = v;
      origin.set(path, from);
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

function getPath(source: Raw, path: (string | number)[]): unknown {
  let node: unknown = source;
  for (const p of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Raw)[p as string];
  }
  return node;
}

function coerce(value: string, kind: SettingSpec['kind']): unknown {
  if (kind === 'number') return value.trim() === '' || Number.isNaN(Number(value)) ? value : Number(value);
  if (kind === 'boolean')
    return value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value;
  return value;
}

function configError(error: z.ZodError, raw: Raw, origin: Map<string, string>): TkmpromError {
  const lines = error.issues.map((issue) => {
    const path = issue.path.join('.');
    const value = getPath(raw, issue.path as (string | number)[]);
    const from = origin.get(path);
    let text = `${path || '(top level)'}: ${issue.message}`;
    if (issue.code === 'unrecognized_keys') {
      text = `${path ? `${path}: ` : ''}unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (see examples/tkmprom.yaml for every setting)`;
    } else if (value !== undefined && !issue.message.includes('got "')) {
      text += `, got ${JSON.stringify(value)}`;
    }
    return from ? `${text} (from ${from})` : text;
  });
  return new TkmpromError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${lines.join('\n  ')}`);
}
