import type { EventEmitter } from 'node:events';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import {
  Aedes,
  type AedesPublishPacket,
  type AuthenticateError,
  type Client,
  type ConnackPacket,
  type PublishPacket,
} from 'aedes';
import aedesPersistenceLevel, { type LevelPersistence } from 'aedes-persistence-level';
import { Level } from 'level';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { ErrorCodes, type ErrorCode, TkmpromError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { type Acl, filterCovers, readAclFile } from './acl.js';
import { hashPassword, readPasswordFile, verifyPassword } from './passwords.js';

export interface BrokerOptions {
  /** Plain MQTT over TCP; port 0 picks a free port. */
  listen?: { host: string; port: number };
  tls?: {
    host: string;
    port: number;
    certFile: string;
    keyFile: string;
    caFile?: string;
    /** Require a client certificate signed by `caFile` (or the system CAs). */
    requestCert?: boolean;
  };
  /** MQTT over WebSocket; without `path` any request path is accepted. */
  websocket?: { host: string; port: number; path?: string };
  /** LevelDB directory for retained messages, sessions and wills; absent keeps them in memory. */
  dataDir?: string;
  passwordFile?: string;
  /** Per-user topic ACL (YAML); requires passwordFile. */
  aclFile?: string;
  /** Cap on simultaneous connections across all listeners; connections beyond it are refused. */
  maxConnections?: number;
  /** How long a subscriber whose socket stopped draining may hold up delivery before it is dropped. */
  drainTimeoutMs?: number;
  logger?: Logger;
}

export type QoS = 0 | 1 | 2;

export const REFUSAL_REASONS = [
  'max_connections',
  'not_authorized',
  'bad_username_or_password',
  'unacceptable_protocol',
  'identifier_rejected',
  'server_unavailable',
  'other',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface BrokerStats {
  /** Clients that completed CONNECT and are still connected. */
  clientsConnected: number;
  /** Every publish routed by the broker (clients, wills, in-process), excluding `$SYS/`. */
  messagesIn: Record<QoS, number>;
  /** Publishes handed to network clients, by the QoS they were sent with. */
  messagesOut: Record<QoS, number>;
  /** Wire bytes, including TLS and WebSocket framing, of closed and live connections. */
  bytesIn: number;
  bytesOut: number;
  retainedCount: number;
  connectionsRefused: Record<RefusalReason, number>;
  /** Publishes dropped because the ACL forbids them. */
  publishesDenied: number;
  /** Subscriptions refused (SUBACK 0x80) because the ACL forbids them. */
  subscriptionsDenied: number;
}

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  addresses(): { mqtt?: string; mqtts?: string; ws?: string };
  subscribeInProcess(
    topics: string[],
    onMessage: (topic: string, payload: Buffer) => void,
  ): Promise<() => Promise<void>>;
  stats(): BrokerStats;
  /** Re-reads the password and ACL files; on error the previous ones stay in force. */
  reloadAuth(): Promise<void>;
  close(): Promise<void>;
}

export type ListenerKind = 'mqtt' | 'mqtts' | 'ws';

/** A listener could not be opened; `listener` says which one, so callers can name their option. */
export class BrokerListenError extends TkmpromError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly listener: ListenerKind,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const SYS_PREFIX = '$SYS/';
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
// CONNACK, remaining length 2, no session, return code 3 "server unavailable".
const CONNACK_SERVER_UNAVAILABLE = Buffer.from([0x20, 0x02, 0x00, 0x03]);
// A refused client gets this long to send its CONNECT before the CONNACK is written anyway.
const REFUSE_WAIT_MS = 2_000;
const REFUSE_LINGER_MS = 2_000;
const IDENTIFIER_REJECTED = 2;
const NOT_AUTHORIZED = 5;
const SHUTDOWN_SETTLE_MS = 2_000;

const CONNACK_REASONS: Record<number, RefusalReason> = {
  1: 'unacceptable_protocol',
  2: 'identifier_rejected',
  3: 'server_unavailable',
  4: 'bad_username_or_password',
  5: 'not_authorized',
};

/** aedes internals this module relies on; pinned by the exact aedes version in package.json. */
interface InternalClient {
  deliver0: (packet: AedesPublishPacket, cb: () => void) => void;
  subscriptions: Record<string, { qos?: number } | undefined>;
}
type PublishCallback = (err?: Error | null) => void;
type PublishFn = (
  packet: PublishPacket,
  client?: Client | null | PublishCallback,
  done?: PublishCallback,
) => void;

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function toQoS(qos: number | undefined): QoS {
  return qos === 1 || qos === 2 ? qos : 0;
}

function maxMatchingQoS(subs: InternalClient['subscriptions'], topic: string): number {
  let max = 0;
  for (const filter in subs) {
    if (filterCovers(filter, topic)) max = Math.max(max, subs[filter]?.qos ?? 0);
  }
  return max;
}

/**
 * Counts the persistence calls still running, by wrapping every method that returns a promise.
 * `settled` resolves once none has been running for a few turns of the event loop (aedes chains
 * calls through callbacks and setImmediate), or after `maxMs`.
 */
function trackPending(target: object): { settled(maxMs: number): Promise<void> } {
  let pending = 0;
  const done = () => {
    pending--;
  };
  const record = target as Record<string, unknown>;
  const proto = Object.getPrototypeOf(target) as object;
  // setup must stay a native async function (aedes checks), destroy runs after the wait anyway.
  const skip = new Set(['constructor', 'setup', 'destroy']);
  for (const name of Object.getOwnPropertyNames(proto)) {
    const fn = Object.getOwnPropertyDescriptor(proto, name)?.value;
    if (skip.has(name) || typeof fn !== 'function') continue;
    record[name] = function (this: unknown, ...args: unknown[]) {
      const result = fn.apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        pending++;
        // Both handlers, so this side chain never rejects; the caller still sees the original.
        (result as Promise<unknown>).then(done, done);
      }
      return result;
    };
  }
  return {
    async settled(maxMs) {
      const deadline = Date.now() + maxMs;
      let quiet = 0;
      while (quiet < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        quiet = pending === 0 ? quiet + 1 : 0;
      }
    },
  };
}

function zeroRefusals(): Record<RefusalReason, number> {
  return Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
}

/** Logs at most `limit` lines per minute, so a client hammering a refusal cannot flood the log. */
function limitedLog(limit: number): (log: () => void) => void {
  let windowStart = 0;
  let count = 0;
  return (log) => {
    const now = Date.now();
    if (now - windowStart >= 60_000) {
      windowStart = now;
      count = 0;
    }
    if (count++ < limit) log();
  };
}

function listenOn(server: net.Server, host: string, port: number, kind: ListenerKind): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const address = formatHostPort(host, port);
      if (err.code === 'EADDRINUSE') {
        reject(
          new BrokerListenError(
            ErrorCodes.LISTEN_ADDRESS_IN_USE,
            `address ${address} is already in use`,
            kind,
            { cause: err },
          ),
        );
      } else {
        reject(
          new BrokerListenError(
            ErrorCodes.LISTEN_FAILED,
            `cannot listen on ${address}: ${err.message}`,
            kind,
            {
              cause: err,
            },
          ),
        );
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

function boundAddress(server: net.Server, scheme: string, suffix = ''): string {
  const addr = server.address() as net.AddressInfo;
  return `${scheme}://${formatHostPort(addr.address, addr.port)}${suffix}`;
}

async function readTlsFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.TLS_FILE_UNREADABLE,
      `cannot read TLS ${what} file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

async function openDataDir(dataDir: string): Promise<Level<string, Buffer>> {
  try {
    await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.DATA_DIR_UNUSABLE,
      `cannot create data directory ${dataDir}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const db = new Level<string, Buffer>(dataDir, { valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail =
      cause?.code === 'LEVEL_LOCKED'
        ? 'it is locked by another process (is another broker using it?)'
        : (cause?.message ?? (err as Error).message);
    throw new TkmpromError(ErrorCodes.DATA_DIR_UNUSABLE, `cannot open data directory ${dataDir}: ${detail}`, {
      cause: err,
    });
  }
  return db;
}

/**
 * Per-user rules need verified user names: without a password file every client is anonymous, so
 * a `users` section would silently grant nothing. With one, an `anonymous` section applies to no one.
 */
function checkAclFits(acl: Acl, file: string, hasPasswordFile: boolean, log: Logger): void {
  if (!hasPasswordFile && acl.users.size > 0) {
    throw new TkmpromError(
      ErrorCodes.ACL_FILE_INVALID,
      `ACL file ${file}: users (${[...acl.users.keys()].join(', ')}) need a password file to verify their ` +
        'names: set broker.passwordFile, or put the rules under "anonymous:" for every client',
    );
  }
  if (hasPasswordFile && acl.anonymous !== undefined) {
    log.warn(
      { aclFile: file },
      "the ACL's anonymous rules apply to no one: with a password file every client logs in",
    );
  }
}

export async function startBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const log = (opts.logger ?? silentLogger()).child({ component: 'broker' });
  if (
    opts.maxConnections !== undefined &&
    (!Number.isInteger(opts.maxConnections) || opts.maxConnections < 1)
  ) {
    throw new TkmpromError(ErrorCodes.CONFIG_INVALID, 'maxConnections must be a positive integer');
  }

  const readAcl = async (file: string): Promise<Acl> => {
    const read = await readAclFile(file);
    checkAclFits(read, file, opts.passwordFile !== undefined, log);
    return read;
  };
  let credentials = opts.passwordFile !== undefined ? await readPasswordFile(opts.passwordFile) : undefined;
  let acl: Acl | undefined = opts.aclFile !== undefined ? await readAcl(opts.aclFile) : undefined;
  const tlsMaterial = opts.tls
    ? await Promise.all([
        readTlsFile(opts.tls.certFile, 'certificate'),
        readTlsFile(opts.tls.keyFile, 'key'),
        opts.tls.caFile !== undefined ? readTlsFile(opts.tls.caFile, 'CA') : Promise.resolve(undefined),
      ])
    : undefined;

  // Successful logins are remembered as a keyed MAC, so a fleet reconnecting at once does not pay
  // one scrypt per device; the MAC covers the stored hash, so a changed password invalidates it.
  const macKey = randomBytes(32);
  const verifiedLogins = new Map<string, Buffer>();
  let dummyHash: Promise<string> | undefined;

  async function checkLogin(username: string | undefined, password: Buffer | undefined): Promise<boolean> {
    if (!credentials) return true;
    if (username === undefined || password === undefined) return false;
    const encoded = credentials.get(username);
    if (encoded === undefined) {
      // Same cost as a real check, so response time does not reveal which usernames exist.
      dummyHash ??= hashPassword(randomBytes(16));
      await verifyPassword(password, await dummyHash);
      return false;
    }
    const mac = createHmac('sha256', macKey).update(encoded).update('\0').update(password).digest();
    const known = verifiedLogins.get(username);
    if (known && timingSafeEqual(known, mac)) return true;
    const ok = await verifyPassword(password, encoded);
    if (ok) verifiedLogins.set(username, mac);
    return ok;
  }

  const messagesIn: Record<QoS, number> = { 0: 0, 1: 0, 2: 0 };
  const messagesOut: Record<QoS, number> = { 0: 0, 1: 0, 2: 0 };
  const connectionsRefused = zeroRefusals();
  let publishesDenied = 0;
  let subscriptionsDenied = 0;
  const retainedTopics = new Set<string>();
  const clientUsers = new WeakMap<object, string>();
  const deniedPackets = new WeakSet<object>();
  const qos0Deliveries = new WeakSet<object>();
  const identifierRejected = new WeakSet<object>();
  const logRefusal = limitedLog(20);
  const logDenial = limitedLog(20);

  const persistence: LevelPersistence | undefined =
    opts.dataDir !== undefined ? aedesPersistenceLevel(await openDataDir(opts.dataDir)) : undefined;
  const pendingWrites = persistence ? trackPending(persistence) : undefined;

  let aedes: Aedes;
  try {
    aedes = await Aedes.createBroker({
      persistence,
      drainTimeout: opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      preConnect(client, packet, callback) {
        // MQTT-3.1.3-8: a zero-length client id only with a clean session, which then gets an id
        // assigned (aedes does that); MQTT 3.1 requires 1 to 23 characters. Refused in
        // authenticate, the first step that can answer with a CONNACK return code.
        if (!packet.clientId && (!packet.clean || packet.protocolVersion === 3)) {
          identifierRejected.add(client);
        }
        // Which deliveries go out at QoS 0 is only known inside aedes' per-client deliver0, so it
        // is tagged there and read back in authorizeForward, where every outgoing publish passes.
        const internal = client as unknown as InternalClient;
        const deliver0 = internal.deliver0;
        internal.deliver0 = (packet, cb) => {
          qos0Deliveries.add(packet);
          deliver0(packet, cb);
        };
        callback(null, true);
      },
      authenticate(client, username, password, callback) {
        if (identifierRejected.has(client)) {
          logRefusal(() =>
            log.warn('connection refused: a zero-length client id needs a clean session (MQTT-3.1.3-8)'),
          );
          const err = new Error('identifier rejected') as AuthenticateError;
          err.returnCode = IDENTIFIER_REJECTED as AuthenticateError['returnCode'];
          callback(err, null);
          return;
        }
        checkLogin(username, password).then(
          (ok) => {
            if (ok) {
              // Without a password file a user name is whatever the client claims: it stays anonymous.
              if (credentials && username !== undefined) clientUsers.set(client, username);
              callback(null, true);
              return;
            }
            logRefusal(() =>
              log.warn({ clientId: client.id, username }, 'connection refused: wrong username or password'),
            );
            const err = new Error('not authorized') as AuthenticateError;
            err.returnCode = NOT_AUTHORIZED as AuthenticateError['returnCode'];
            callback(err, null);
          },
          (err: unknown) => {
            log.error({ err }, 'password check failed');
            const refusal = new Error('server unavailable') as AuthenticateError;
            refusal.returnCode = 3 as AuthenticateError['returnCode'];
            callback(refusal, null);
          },
        );
      },
      authorizePublish(client, packet, callback) {
        if (packet.topic.startsWith(SYS_PREFIX)) {
          callback(new Error(`${SYS_PREFIX} topics are reserved`));
          return;
        }
        if (!client || !acl || acl.canPublish(clientUsers.get(client), packet.topic)) {
          callback(null);
          return;
        }
        // Acknowledged but not routed (MQTT-3.3.5-2 allows either this or disconnecting): a device
        // that is disconnected for a forbidden publish would reconnect and repeat it forever.
        deniedPackets.add(packet);
        publishesDenied++;
        logDenial(() =>
          log.warn(
            { clientId: client.id, username: clientUsers.get(client), topic: packet.topic },
            'publish dropped: not allowed by the ACL',
          ),
        );
        callback(null);
      },
      authorizeSubscribe(client, sub, callback) {
        if (!acl || acl.canSubscribe(clientUsers.get(client), sub.topic)) {
          callback(null, sub);
          return;
        }
        subscriptionsDenied++;
        logDenial(() =>
          log.warn(
            { clientId: client.id, username: clientUsers.get(client), topic: sub.topic },
            'subscription refused: not allowed by the ACL',
          ),
        );
        callback(null, null);
      },
      authorizeForward(client, packet) {
        let qos = toQoS(packet.qos);
        if (qos > 0) {
          if (qos0Deliveries.has(packet)) {
            qos = 0;
          } else {
            const subs = (client as unknown as InternalClient).subscriptions;
            const exact = subs[packet.topic];
            if (exact) {
              // aedes itself downgrades to an exact-topic subscription's QoS after this hook.
              if ((exact.qos ?? 0) < qos) qos = toQoS(exact.qos);
            } else if (qos === 2 && maxMatchingQoS(subs, packet.topic) === 1) {
              // aedes would send a QoS 2 publish at QoS 2 through a wildcard granted QoS 1, which
              // MQTT-3.8.4-6 forbids; the packet is a per-delivery copy, so lowering it is local.
              packet.qos = 1;
              qos = 1;
            }
          }
        }
        messagesOut[qos]++;
        return packet;
      },
    });
  } catch (err) {
    await persistence?.destroy().catch(() => {});
    throw err;
  }

  const internalAedes = aedes as unknown as { publish: PublishFn };
  const originalPublish = internalAedes.publish.bind(aedes);
  internalAedes.publish = (packet, client, done) => {
    if (deniedPackets.has(packet)) {
      const cb = typeof client === 'function' ? client : done;
      if (cb) setImmediate(cb, null);
      return;
    }
    originalPublish(packet, client, done);
  };

  aedes.on('publish', (packet: AedesPublishPacket) => {
    if (packet.topic.startsWith(SYS_PREFIX)) return;
    messagesIn[toQoS(packet.qos)]++;
    if (packet.retain) {
      if (packet.payload.length === 0) retainedTopics.delete(packet.topic);
      else retainedTopics.add(packet.topic);
    }
  });
  aedes.on('connackSent', (packet: ConnackPacket, client: Client) => {
    const code = packet.returnCode ?? 0;
    if (code === 0) return;
    connectionsRefused[CONNACK_REASONS[code] ?? 'other']++;
    log.debug({ clientId: client.id, returnCode: code }, 'connection refused');
  });
  aedes.on('clientReady', (client: Client) => log.debug({ clientId: client.id }, 'client connected'));
  aedes.on('clientDisconnect', (client: Client) => log.debug({ clientId: client.id }, 'client disconnected'));
  aedes.on('clientError', (client: Client, err: Error) =>
    log.debug({ clientId: client.id, err: err.message }, 'client error'),
  );
  aedes.on('connectionError', (_client: Client, err: Error) =>
    log.debug({ err: err.message }, 'connection error before CONNECT completed'),
  );
  // Persistence failures surface as 'error'; an EventEmitter without a listener would throw them.
  (aedes as EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'));

  if (persistence) {
    for await (const packet of persistence.createRetainedStream('#')) {
      retainedTopics.add((packet as { topic: string }).topic);
    }
  }

  let closing = false;
  const liveSockets = new Set<net.Socket>();
  const mqttStreams = new Set<Duplex>();
  const refusing = new Set<Duplex>();
  let closedBytesIn = 0;
  let closedBytesOut = 0;

  function trackSocket(socket: net.Socket): void {
    liveSockets.add(socket);
    socket.once('close', () => {
      liveSockets.delete(socket);
      closedBytesIn += socket.bytesRead;
      closedBytesOut += socket.bytesWritten;
    });
  }

  function refuseOverCap(stream: Duplex): void {
    connectionsRefused.max_connections++;
    logRefusal(() =>
      log.warn({ maxConnections: opts.maxConnections }, 'connection refused: too many connections'),
    );
    refusing.add(stream);
    stream.on('error', () => {});
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(waitTimer);
      stream.end(CONNACK_SERVER_UNAVAILABLE);
      setTimeout(() => stream.destroy(), REFUSE_LINGER_MS).unref();
    };
    // Answering before the CONNECT arrives could reset the connection under the client's write
    // and lose the CONNACK, so wait for its first bytes.
    const waitTimer = setTimeout(answer, REFUSE_WAIT_MS);
    waitTimer.unref();
    stream.once('data', answer);
    stream.once('close', () => {
      clearTimeout(waitTimer);
      refusing.delete(stream);
    });
  }

  function admit(stream: Duplex, req?: IncomingMessage): void {
    if (closing) {
      stream.destroy();
      return;
    }
    if (opts.maxConnections !== undefined && mqttStreams.size >= opts.maxConnections) {
      refuseOverCap(stream);
      return;
    }
    mqttStreams.add(stream);
    stream.once('close', () => mqttStreams.delete(stream));
    aedes.handle(stream, req);
  }

  const servers: net.Server[] = [];
  let wss: WebSocketServer | undefined;
  const addrs: { mqtt?: string; mqtts?: string; ws?: string } = {};

  async function shutdown(): Promise<void> {
    closing = true;
    const serversClosed = servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
        }),
    );
    wss?.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const client of wss?.clients ?? []) client.terminate();
    for (const stream of refusing) stream.destroy();
    for (const socket of liveSockets) socket.destroy();
    await Promise.all(serversClosed);
    if (persistence) {
      // Closing clients publishes their wills and then deletes them from the store, in a chain
      // that outlives aedes.close(); closing LevelDB under it would leave the wills behind for
      // the next start to publish a second time.
      await pendingWrites?.settled(SHUTDOWN_SETTLE_MS);
      await persistence.destroy();
    }
  }

  try {
    if (opts.listen) {
      const server = net.createServer((socket) => {
        trackSocket(socket);
        admit(socket);
      });
      servers.push(server);
      await listenOn(server, opts.listen.host, opts.listen.port, 'mqtt');
      addrs.mqtt = boundAddress(server, 'mqtt');
    }
    if (opts.tls && tlsMaterial) {
      const [cert, key, ca] = tlsMaterial;
      let server: tls.Server;
      try {
        server = tls.createServer({
          cert,
          key,
          ca,
          requestCert: opts.tls.requestCert ?? false,
          rejectUnauthorized: opts.tls.requestCert ?? false,
        });
      } catch (err) {
        throw new TkmpromError(
          ErrorCodes.TLS_FILE_UNREADABLE,
          `invalid TLS certificate or key (${opts.tls.certFile}, ${opts.tls.keyFile}): ${(err as Error).message}`,
          { cause: err },
        );
      }
      server.on('connection', trackSocket);
      server.on('secureConnection', (socket) => admit(socket));
      server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
      servers.push(server);
      await listenOn(server, opts.tls.host, opts.tls.port, 'mqtts');
      addrs.mqtts = boundAddress(server, 'mqtts');
    }
    if (opts.websocket) {
      const server = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
        res.end('this endpoint speaks MQTT over WebSocket only\n');
      });
      server.on('connection', trackSocket);
      servers.push(server);
      const path = opts.websocket.path;
      wss = new WebSocketServer({
        server,
        path,
        handleProtocols: (protocols) =>
          protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
      });
      wss.on('connection', (socket, req) => admit(createWebSocketStream(socket), req));
      wss.on('error', (err) => log.error({ err }, 'WebSocket server error'));
      await listenOn(server, opts.websocket.host, opts.websocket.port, 'ws');
      addrs.ws = boundAddress(server, 'ws', path ?? '');
    }
  } catch (err) {
    await shutdown().catch(() => {});
    throw err;
  }
  for (const server of servers) server.on('error', (err) => log.error({ err }, 'listener error'));
  log.info(
    { ...addrs, persistent: opts.dataDir !== undefined, auth: credentials !== undefined },
    'broker started',
  );

  let closePromise: Promise<void> | undefined;

  return {
    aedes,
    addresses: () => ({ ...addrs }),
    async subscribeInProcess(topics, onMessage) {
      const handlers = topics.map((topic) => {
        const wildcardFirst = topic.startsWith('+') || topic.startsWith('#');
        const handler = (packet: AedesPublishPacket, cb: () => void) => {
          // Mirrors what MQTT clients see: no `$` topics through a leading wildcard, no denied publishes.
          if (!(wildcardFirst && packet.topic.startsWith('$'))) {
            try {
              const payload = packet.payload;
              onMessage(packet.topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
            } catch (err) {
              log.error({ err, topic: packet.topic }, 'in-process subscriber failed');
            }
          }
          cb();
        };
        return { topic, handler };
      });
      await Promise.all(
        handlers.map(
          ({ topic, handler }) => new Promise<void>((resolve) => aedes.subscribe(topic, handler, resolve)),
        ),
      );
      let unsubscribed = false;
      return async () => {
        if (unsubscribed || aedes.closed) return;
        unsubscribed = true;
        await Promise.all(
          handlers.map(
            ({ topic, handler }) =>
              new Promise<void>((resolve) => aedes.unsubscribe(topic, handler, resolve)),
          ),
        );
      };
    },
    stats() {
      let bytesIn = closedBytesIn;
      let bytesOut = closedBytesOut;
      for (const socket of liveSockets) {
        bytesIn += socket.bytesRead;
        bytesOut += socket.bytesWritten;
      }
      return {
        clientsConnected: aedes.connectedClients,
        messagesIn: { ...messagesIn },
        messagesOut: { ...messagesOut },
        bytesIn,
        bytesOut,
        retainedCount: retainedTopics.size,
        connectionsRefused: { ...connectionsRefused },
        publishesDenied,
        subscriptionsDenied,
      };
    },
    async reloadAuth() {
      const nextCredentials =
        opts.passwordFile !== undefined ? await readPasswordFile(opts.passwordFile) : undefined;
      const nextAcl = opts.aclFile !== undefined ? await readAcl(opts.aclFile) : undefined;
      credentials = nextCredentials;
      acl = nextAcl;
      verifiedLogins.clear();
      log.info({ users: credentials?.size, aclUsers: acl?.users.size }, 'password and ACL files reloaded');
    },
    close() {
      closePromise ??= shutdown().then(() => log.info('broker stopped'));
      return closePromise;
    },
  };
}
