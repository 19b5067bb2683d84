import { createHash } from 'node:crypto';
import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureVersion, type TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { BASIC_REALM, markAuthenticated } from './auth.js';

/**
 * The web configuration file of Prometheus' exporter-toolkit (`--web.config.file`), the one
 * node_exporter reads: TLS for the HTTP server, HTTP basic auth users with bcrypt hashes, and
 * extra response headers. Relative paths are taken from the file's directory, as the toolkit does.
 */

/** The paths that stay open whatever the web configuration says: probes must not need secrets. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'RequireClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;
type TlsVersionName = keyof typeof TLS_VERSIONS;

/** The headers the toolkit lets a web configuration add, with the values it allows (none: any). */
const EXTRA_HEADERS: Record<string, readonly string[] | undefined> = {
  'Strict-Transport-Security': undefined,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': undefined,
  'Content-Security-Policy': undefined,
};

/** Settings of the toolkit's format that tkmprom knows but does not implement, and what applies instead. */
const UNSUPPORTED: Record<string, string> = {
  cipher_suites: "Node's default cipher suites apply",
  curve_preferences: "Node's default curves apply",
  client_allowed_sans:
    'use client_auth_type: RequireAndVerifyClientCert with a CA that signs only allowed clients',
  rate_limit: 'put a rate-limiting proxy in front if needed',
};

/** bcrypt costs accepted: 4 is the format's minimum; above 16 a single check takes seconds. */
const MIN_COST = 4;
const MAX_COST = 16;
const BCRYPT = /^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$/;
export const HASH_HOWTO = `make one with: htpasswd -nBC 10 "" | tr -d ':\\n'`;

const text = (what: string) => z.string({ error: `expected ${what}` }).min(1, `expected ${what}, got ""`);

const tlsSchema = z
  .object(
    {
      cert_file: text('the path of a PEM certificate file').optional(),
      key_file: text('the path of a PEM private key file').optional(),
      cert: text('a PEM certificate').optional(),
      key: text('a PEM private key').optional(),
      client_ca_file: text('the path of a PEM CA file').optional(),
      client_ca: text('PEM CA certificates').optional(),
      client_auth_type: z
        .enum(CLIENT_AUTH_TYPES, { error: `expected one of ${CLIENT_AUTH_TYPES.join(', ')}` })
        .optional(),
      min_version: z
        .enum(Object.keys(TLS_VERSIONS) as [TlsVersionName], {
          error: `expected one of ${Object.keys(TLS_VERSIONS).join(', ')}`,
        })
        .optional(),
      max_version: z
        .enum(Object.keys(TLS_VERSIONS) as [TlsVersionName], {
          error: `expected one of ${Object.keys(TLS_VERSIONS).join(', ')}`,
        })
        .optional(),
      prefer_server_cipher_suites: z.boolean({ error: 'expected true or false' }).optional(),
    },
    { error: 'expected a mapping of TLS settings (cert_file, key_file, ...)' },
  )
  .strict();

const webConfigSchema = z
  .object({
    tls_server_config: tlsSchema.optional(),
    http_server_config: z
      .object(
        {
          // Accepted for compatibility: the server speaks HTTP/1.1, which every client falls back to.
          http2: z.boolean({ error: 'expected true or false' }).optional(),
          headers: z
            .record(z.string(), z.string({ error: 'expected a header value (a string)' }), {
              error: 'expected a mapping of header names to values',
            })
            .optional(),
        },
        { error: 'expected a mapping of HTTP server settings (http2, headers)' },
      )
      .strict()
      .optional(),
    basic_auth_users: z
      .record(z.string(), z.unknown(), { error: 'expected a mapping of user names to bcrypt hashes' })
      .optional(),
  })
  .strict();

type RawWebConfig = z.output<typeof webConfigSchema>;

/** What a client certificate must be for a request to be served, beyond what the handshake checked. */
export type ClientCertCheck = 'none' | 'present' | 'verified-if-present';

export interface WebConfig {
  /** The file, as given. */
  file: string;
  /** Options for node:https; absent: plain HTTP. */
  tls?: HttpsServerOptions;
  /** The certificate, key and CA files the TLS options were read from (absolute). */
  tlsFiles: readonly string[];
  /** Reads those files again into new TLS options; throws as loading does. */
  readTls?: () => HttpsServerOptions;
  clientCertCheck: ClientCertCheck;
  /** Added to every response. */
  headers: readonly (readonly [string, string])[];
  /** Absent: no basic auth. */
  users?: BasicAuth;
}

function invalid(file: string, key: string, message: string): TkmpromError {
  return new TkmpromError(
    ErrorCodes.WEB_CONFIG_INVALID,
    `web config file ${file}: ${key === '' ? '' : `${key}: `}${message}`,
  );
}

/**
 * Reads and checks the web configuration file, and every file it names, so that a mistake stops
 * the exporter at start rather than at the first scrape.
 */
export function loadWebConfig(file: string, options: BasicAuthOptions = {}): WebConfig {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(
      file,
      '',
      `cannot read it: ${(err as Error).message}; fix the path given to --web.config.file (http.webConfigFile)`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(source);
  } catch (err) {
    const where =
      err instanceof YAMLParseError && err.linePos
        ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}`
        : '';
    throw invalid(file, '', `not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseWebConfig(file, doc, options);
}

/** Checks a parsed web configuration; `file` names it in errors and anchors its relative paths. */
export function parseWebConfig(file: string, doc: unknown, options: BasicAuthOptions = {}): WebConfig {
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid(
      file,
      '',
      'expected a mapping with tls_server_config, basic_auth_users and/or http_server_config',
    );
  }
  const result = webConfigSchema.safeParse(withoutNulls(doc as Record<string, unknown>));
  if (!result.success) throw schemaError(file, result.error);
  const raw = result.data;
  const dir = dirname(resolve(file));
  const t = raw.tls_server_config;
  const tls = t === undefined ? undefined : tlsOptions(file, dir, t);
  return {
    file,
    tls: tls?.options,
    tlsFiles: tls?.files ?? [],
    readTls: t && (() => tlsOptions(file, dir, t).options),
    clientCertCheck: tls?.check ?? 'none',
    headers: headers(file, raw.http_server_config?.headers ?? {}),
    users: raw.basic_auth_users === undefined ? undefined : users(file, raw.basic_auth_users, options),
  };
}

/** An empty section (`basic_auth_users:` with its entries commented out) means "not set". */
function withoutNulls(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (v === null) continue;
    out[k] =
      typeof v === 'object' && !Array.isArray(v) && k !== 'basic_auth_users'
        ? withoutNulls(v as Record<string, unknown>)
        : v;
  }
  return out;
}

function schemaError(file: string, error: z.ZodError): TkmpromError {
  const issue = error.issues[0]!;
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const name = issue.keys[0]!;
    const full = key === '' ? name : `${key}.${name}`;
    const instead = UNSUPPORTED[name];
    if (instead !== undefined) {
      return invalid(file, full, `not supported by tkmprom: remove it (${instead})`);
    }
    const allowed = allowedKeys(issue.path as string[]);
    return invalid(file, full, `unknown key; remove it or use one of ${allowed.join(', ')}`);
  }
  return invalid(file, key, issue.message);
}

function allowedKeys(path: string[]): string[] {
  if (path.length === 0) return Object.keys(webConfigSchema.shape);
  if (path[0] === 'tls_server_config') return Object.keys(tlsSchema.shape);
  return ['http2', 'headers'];
}

function tlsOptions(
  file: string,
  dir: string,
  t: NonNullable<RawWebConfig['tls_server_config']>,
): { options: HttpsServerOptions; check: ClientCertCheck; files: string[] } {
  const key = (name: string) => `tls_server_config.${name}`;
  const files: string[] = [];
  const one = (
    fileKey: 'cert_file' | 'key_file' | 'client_ca_file',
    inline: 'cert' | 'key' | 'client_ca',
  ) => {
    const path = t[fileKey];
    if (path !== undefined && t[inline] !== undefined) {
      throw invalid(file, key(fileKey), `set either ${fileKey} or ${inline}, not both`);
    }
    if (path === undefined) return t[inline];
    const full = resolve(dir, path);
    files.push(full);
    try {
      return readFileSync(full, 'utf8');
    } catch (err) {
      throw new TkmpromError(
        ErrorCodes.TLS_FILE_UNREADABLE,
        `web config file ${file}: ${key(fileKey)}: cannot read ${full}: ${(err as Error).message}; fix the path (a relative path is taken from the web config file's directory)`,
      );
    }
  };
  const cert = one('cert_file', 'cert');
  if (cert === undefined) {
    throw invalid(file, key('cert_file'), 'missing: TLS needs the server certificate (or cert, inline PEM)');
  }
  const privateKey = one('key_file', 'key');
  if (privateKey === undefined) {
    throw invalid(file, key('key_file'), 'missing: TLS needs the private key (or key, inline PEM)');
  }
  const ca = one('client_ca_file', 'client_ca');
  const auth: ClientAuthType = t.client_auth_type ?? 'NoClientCert';
  if (ca !== undefined && auth === 'NoClientCert') {
    throw invalid(
      file,
      key('client_auth_type'),
      'a client CA is set but no client certificate is asked for; set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove the CA',
    );
  }
  const verifies = auth === 'VerifyClientCertIfGiven' || auth === 'RequireAndVerifyClientCert';
  if (verifies && ca === undefined) {
    throw invalid(
      file,
      key('client_ca_file'),
      `missing: client_auth_type ${auth} verifies client certificates against it; set the CA that signs them`,
    );
  }
  const order = Object.keys(TLS_VERSIONS);
  const min = t.min_version ?? 'TLS12';
  const max = t.max_version ?? 'TLS13';
  if (order.indexOf(min) > order.indexOf(max)) {
    throw invalid(
      file,
      key('min_version'),
      `${min} is above max_version ${max}; lower it or raise max_version`,
    );
  }
  const options: HttpsServerOptions = {
    cert,
    key: privateKey,
    minVersion: TLS_VERSIONS[min] as SecureVersion,
    maxVersion: TLS_VERSIONS[max] as SecureVersion,
    honorCipherOrder: t.prefer_server_cipher_suites ?? true,
    requestCert: auth !== 'NoClientCert',
    rejectUnauthorized: auth === 'RequireAndVerifyClientCert',
  };
  if (ca !== undefined) options.ca = ca;
  try {
    createSecureContext(options);
  } catch (err) {
    throw invalid(
      file,
      'tls_server_config',
      `the certificate, key or CA does not load (${(err as Error).message}); check that they are PEM and that the key belongs to the certificate`,
    );
  }
  const check: ClientCertCheck =
    auth === 'RequireAnyClientCert' || auth === 'RequireClientCert'
      ? 'present'
      : auth === 'VerifyClientCertIfGiven'
        ? 'verified-if-present'
        : 'none';
  return { options, check, files };
}

/**
 * Watches the certificate, key and CA files (polling every `intervalMs`) and hands a server new
 * TLS options when they change, so a renewed certificate is served without a restart. Files that
 * do not load (a key written before its certificate) are logged and the previous ones kept; the
 * next change tries again.
 */
export function watchCertificates(
  web: WebConfig,
  server: { setSecureContext(options: HttpsServerOptions): void },
  logger: Logger,
  intervalMs = 10_000,
): { reload(): boolean; stop(): void } {
  const reload = (): boolean => {
    if (web.readTls === undefined) return false;
    try {
      server.setSecureContext(web.readTls());
      logger.info({ webConfigFile: web.file }, 'TLS certificate and key reloaded');
      return true;
    } catch (err) {
      logger.warn(
        { webConfigFile: web.file, err: (err as Error).message, code: (err as TkmpromError).code },
        'TLS files changed but do not load; still serving the previous certificate',
      );
      return false;
    }
  };
  const onChange = (now: Stats, before: Stats) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) reload();
  };
  for (const f of web.tlsFiles) watchFile(f, { interval: intervalMs, persistent: false }, onChange);
  return {
    reload,
    stop: () => {
      for (const f of web.tlsFiles) unwatchFile(f, onChange);
    },
  };
}

function headers(file: string, given: Record<string, string>): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(given)) {
    const canonical = Object.keys(EXTRA_HEADERS).find((h) => h.toLowerCase() === name.toLowerCase());
    const key = `http_server_config.headers.${name}`;
    if (canonical === undefined) {
      throw invalid(
        file,
        key,
        `this header cannot be set; remove it or use one of ${Object.keys(EXTRA_HEADERS).join(', ')}`,
      );
    }
    const allowed = EXTRA_HEADERS[canonical];
    if (allowed !== undefined && !allowed.includes(value)) {
      throw invalid(file, key, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    if (!/^[\t\x20-\x7e]*$/.test(value)) {
      throw invalid(file, key, 'the value holds characters a header cannot carry; use printable ASCII');
    }
    out.push([canonical, value]);
  }
  return out;
}

function users(file: string, given: Record<string, unknown>, options: BasicAuthOptions): BasicAuth {
  const hashes = new Map<string, string>();
  for (const [user, hash] of Object.entries(given)) {
    // Never quote the value: it is a hash, or worse, a password written by mistake.
    const key = `basic_auth_users.${user}`;
    if (user === '' || user.includes(':')) {
      throw invalid(
        file,
        key,
        'a user name must be non-empty and without ":" (basic auth splits on the first ":")',
      );
    }
    const m = typeof hash === 'string' ? BCRYPT.exec(hash) : null;
    if (m === null) {
      throw invalid(
        file,
        key,
        `not a bcrypt hash (the value is the hash of the password, never the password itself); ${HASH_HOWTO}`,
      );
    }
    const cost = Number(m[1]);
    if (cost < MIN_COST || cost > MAX_COST) {
      throw invalid(
        file,
        key,
        `bcrypt cost ${cost} is outside ${MIN_COST}..${MAX_COST} (above ${MAX_COST} one check takes seconds); ${HASH_HOWTO}`,
      );
    }
    hashes.set(user, hash as string);
  }
  if (hashes.size === 0) {
    throw invalid(
      file,
      'basic_auth_users',
      'no users: add `name: <bcrypt hash>` entries or remove the section',
    );
  }
  return new BasicAuth(hashes, options);
}

export interface BasicAuthOptions {
  /** How long a verification's answer is kept (default 60 s). */
  cacheTtlMs?: number;
  /** Answers kept at most (default 1,000); the oldest go first. */
  cacheSize?: number;
  /** bcrypt checks running at once at most (default 32); beyond, a request is refused uncached. */
  maxPending?: number;
  now?: () => number;
}

interface Verdict {
  ok: boolean;
  expires: number;
}

/**
 * A bcrypt hash of a password nobody has: a user that does not exist costs the same check as one
 * that does, so response times do not tell which user names exist (the hash of 24 random bytes,
 * thrown away).
 */
const DECOY_HASH = '$2b$10$wRPARwIBtve3oqvHy9OC4.I1rbtuSBAIo6iJ0HF1WNdrG1tW67Ora';

/**
 * HTTP basic auth against bcrypt hashes. A bcrypt check costs about 80 ms of CPU at cost 10, so
 * verdicts (right and wrong alike) are kept for a short time, keyed by a SHA-256 of the credentials:
 * a scraper every 15 s costs one check a minute, and neither the password nor the hash is kept.
 */
export class BasicAuth {
  private readonly cache = new Map<string, Verdict>();
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly ttlMs: number;
  private readonly size: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  /** bcrypt checks run so far. */
  checks = 0;

  constructor(
    private readonly hashes: ReadonlyMap<string, string>,
    opts: BasicAuthOptions = {},
  ) {
    this.ttlMs = opts.cacheTtlMs ?? 60_000;
    this.size = opts.cacheSize ?? 1000;
    this.maxPending = opts.maxPending ?? 32;
    this.now = opts.now ?? Date.now;
  }

  get users(): readonly string[] {
    return [...this.hashes.keys()];
  }

  /** Whether an `Authorization` header carries a user name and password of this file. */
  verify(header: string | undefined): boolean | Promise<boolean> {
    const credentials = parseBasic(header);
    if (credentials === undefined) return false;
    const key = createHash('sha256').update(credentials).digest('base64');
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      if (hit.expires > now) return hit.ok;
      this.cache.delete(key);
    }
    const running = this.pending.get(key);
    if (running !== undefined) return running;
    if (this.pending.size >= this.maxPending) return false;
    const colon = credentials.indexOf(':');
    const hash = this.hashes.get(credentials.slice(0, colon));
    this.checks++;
    const check = bcrypt
      .compare(credentials.slice(colon + 1), hash ?? DECOY_HASH)
      .then((match) => match && hash !== undefined)
      .catch(() => false)
      .then((ok) => {
        this.pending.delete(key);
        this.remember(key, ok);
        return ok;
      });
    this.pending.set(key, check);
    return check;
  }

  private remember(key: string, ok: boolean): void {
    this.cache.delete(key);
    while (this.cache.size >= this.size) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { ok, expires: this.now() + this.ttlMs });
  }
}

/** `user:password` of a `Basic` header; undefined when there is none or it holds no `:`. */
function parseBasic(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (m === null) return undefined;
  const credentials = Buffer.from(m[1]!, 'base64').toString('utf8');
  return credentials.includes(':') ? credentials : undefined;
}

/**
 * Runs before routing, for every request. True: go on; false: it has answered (or dropped the
 * connection).
 */
export type Authorize = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface AuthorizerOptions {
  /**
   * An API token is configured (`api.tokenFile`): the API and the status page then also open with
   * it, so requests there without valid basic credentials go on to those routes, which check the
   * token and answer 401 naming both schemes.
   */
  tokenOpensApi?: boolean;
}

/** The request hook of a web configuration: client certificate policy, headers, basic auth. */
export function webAuthorizer(web: WebConfig, opts: AuthorizerOptions = {}): Authorize {
  const users = web.users;
  return (req, res, url) => {
    if (!clientCertAccepted(web.clientCertCheck, req)) {
      req.socket.destroy();
      return false;
    }
    for (const [name, value] of web.headers) res.setHeader(name, value);
    if (users === undefined || OPEN_PATHS.has(url.pathname)) return true;
    const verdict = users.verify(req.headers.authorization);
    if (verdict === true) return accept(req);
    if (verdict === false) return refuse(req, res, url, opts);
    return verdict.then((ok) => (ok ? accept(req) : refuse(req, res, url, opts)));
  };
}

function accept(req: IncomingMessage): true {
  markAuthenticated(req);
  return true;
}

function refuse(req: IncomingMessage, res: ServerResponse, url: URL, opts: AuthorizerOptions): boolean {
  const p = url.pathname;
  if (opts.tokenOpensApi && (p === '/' || p === '/api' || p.startsWith('/api/'))) return true;
  res.writeHead(401, {
    'www-authenticate': BASIC_REALM,
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(
    req.method === 'HEAD'
      ? undefined
      : 'unauthorized: send a user name and password of basic_auth_users in the web configuration file (HTTP basic auth)\n',
  );
  return false;
}

function clientCertAccepted(check: ClientCertCheck, req: IncomingMessage): boolean {
  if (check === 'none') return true;
  const socket = req.socket as TLSSocket;
  const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  const given = cert !== undefined && Object.keys(cert).length > 0;
  if (check === 'present') return given;
  return !given || socket.authorized === true;
}
