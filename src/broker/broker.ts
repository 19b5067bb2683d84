import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { silentLogger } from '../log.js';
import { BrokerAuth } from './auth.js';
import { BrokerCounters } from './counters.js';
import { subscribeInProcess } from './in-process.js';
import { Listeners, readTlsMaterial } from './listeners.js';
import { type DurableStore, openStore } from './persistence.js';
import { publishSysTopics } from './sys.js';
import { type BrokerOptions, type EmbeddedBroker, SYS_PREFIX } from './types.js';

const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
const SHUTDOWN_SETTLE_MS = 2_000;

/**
 * aedes' broker id, which starts with the start time: the store keys a session's queued messages
 * by broker id, then by a counter, so messages queued by successive runs on one data directory
 * come back in the order they were queued only when later runs' ids sort after earlier ones'.
 */
function brokerId(): string {
  return `tkmprom-${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
}

type PublishCallback = (err?: Error | null) => void;
type PublishFn = (
  packet: PublishPacket,
  client?: Client | null | PublishCallback,
  done?: PublishCallback,
) => void;

interface RetainedStreams {
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

/**
 * MQTT-4.7.2-1: a filter starting with a wildcard does not match topics starting with `$`. aedes
 * keeps to that when routing, but its persistence answers a new subscription's retained lookup by
 * plain matching, so `#` would bring every retained `$SYS/broker/...` topic along (and a client
 * that then tries to clear them by publishing an empty retained message is disconnected, since
 * `$SYS/` is reserved). The lookup is redone here filter by filter, without `$` topics for
 * wildcard-first filters; it runs once per SUBSCRIBE, never per message.
 */
function keepDollarTopicsFromWildcards(aedes: Aedes): void {
  const persistence = (aedes as unknown as { persistence: RetainedStreams }).persistence;
  persistence.createRetainedStreamCombi = (patterns) =>
    Readable.from(
      (async function* () {
        for (const pattern of patterns) {
          const wildcardFirst = pattern.startsWith('#') || pattern.startsWith('+');
          for await (const packet of persistence.createRetainedStream(pattern)) {
            if (!(wildcardFirst && (packet as { topic: string }).topic.startsWith('$'))) yield packet;
          }
        }
      })(),
    );
}

/**
 * Starts the broker: aedes with the project's hooks (auth.ts), counters (counters.ts), optional
 * LevelDB store (persistence.ts) and listeners (listeners.ts). See README.md beside this file.
 */
export async function startBroker(opts: BrokerOptions): Promise<EmbeddedBroker> {
  const log = (opts.logger ?? silentLogger()).child({ component: 'broker' });
  if (
    opts.maxConnections !== undefined &&
    (!Number.isInteger(opts.maxConnections) || opts.maxConnections < 1)
  ) {
    throw new TkmpromError(ErrorCodes.CONFIG_INVALID, 'maxConnections must be a positive integer');
  }

  const counters = new BrokerCounters();
  const auth = await BrokerAuth.load(opts, counters, log);
  const tlsMaterial = await readTlsMaterial(opts.tls);
  const store: DurableStore | undefined =
    opts.dataDir !== undefined ? await openStore(opts.dataDir) : undefined;

  let aedes: Aedes;
  try {
    aedes = await Aedes.createBroker({
      id: brokerId(),
      persistence: store?.persistence,
      drainTimeout: opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      preConnect(client, packet, callback) {
        counters.tagDeliveries(client);
        auth.checkClientId(client, packet);
        callback(null, true);
      },
      authenticate: (client, username, password, callback) =>
        auth.authenticate(client, username, password, callback),
      authorizePublish: (client, packet, callback) => auth.authorizePublish(client, packet, callback),
      authorizeSubscribe: (client, sub, callback) => auth.authorizeSubscribe(client, sub, callback),
      authorizeForward: (client, packet) => counters.forwarded(client, packet),
    });
  } catch (err) {
    await store?.close(0).catch(() => {});
    throw err;
  }

  // A publish the ACL denied was acknowledged by aedes' handler; here it is kept from being routed.
  const internalAedes = aedes as unknown as { publish: PublishFn };
  const originalPublish = internalAedes.publish.bind(aedes);
  internalAedes.publish = (packet, client, done) => {
    if (auth.deniedPackets.has(packet)) {
      const cb = typeof client === 'function' ? client : done;
      if (cb) setImmediate(cb, null);
      return;
    }
    originalPublish(packet, client, done);
  };

  keepDollarTopicsFromWildcards(aedes);
  counters.listen(aedes, log);
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

  if (store) {
    for await (const topic of store.retainedTopics()) {
      if (!topic.startsWith(SYS_PREFIX)) counters.retainedTopics.add(topic);
    }
  }

  const listeners = new Listeners(aedes, opts.maxConnections, counters, log);
  const stats = () => counters.snapshot(aedes.connectedClients, listeners.bytes());
  // Published once before any client can connect, so none reads a previous run's values from the store.
  const stopSys =
    opts.sysIntervalMs !== undefined && opts.sysIntervalMs > 0
      ? publishSysTopics(aedes, opts.sysIntervalMs, stats, log)
      : undefined;

  async function shutdown(): Promise<void> {
    stopSys?.();
    listeners.stopAccepting();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await listeners.closeAll();
    // Closing clients publishes their wills and then deletes them from the store, in a chain
    // that outlives aedes.close(); closing LevelDB under it would leave the wills behind for
    // the next start to publish a second time.
    await store?.close(SHUTDOWN_SETTLE_MS);
  }

  try {
    await listeners.open(opts, tlsMaterial);
  } catch (err) {
    await shutdown().catch(() => {});
    throw err;
  }
  log.info(
    { ...listeners.addresses(), persistent: store !== undefined, auth: auth.passwordsRequired },
    'broker started',
  );

  let closePromise: Promise<void> | undefined;

  return {
    aedes,
    addresses: () => listeners.addresses(),
    subscribeInProcess: (topics, onMessage) => subscribeInProcess(aedes, log, topics, onMessage),
    stats,
    reloadAuth: () => auth.reload(),
    close() {
      closePromise ??= shutdown().then(() => log.info('broker stopped'));
      return closePromise;
    },
  };
}
