import {
  AckPolicy,
  type ConsumerConfig,
  connect,
  DeliverPolicy,
  headers,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import {
  KEYER_DURABLE,
  KEYER_FILTER,
  keyedSubject,
  natsConnectOptions,
  SEEN_HEADER,
  type StreamOptions,
  streamConfig,
  topicOfSubject,
} from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { Keying } from './key.js';

export interface KeyerOptions {
  nats: { url?: string | undefined; username: string; password?: string | undefined };
  partitions: number;
  /** The stream the keyer makes sure exists, reads from and writes to. */
  stream: StreamOptions;
  maxPayloadBytes: number;
  logger: Logger;
}

export interface RunningKeyer {
  /** Messages republished (and acknowledged) so far. */
  readonly keyed: number;
  stop(): Promise<void>;
}

/** How many messages one keyer has in flight at most: read, republished, not yet acknowledged. */
const IN_FLIGHT = 1024;

/** Connects to NATS; throws TKM_NATS_UNREACHABLE naming the URL and the user. */
export async function connectNats(
  nats: KeyerOptions['nats'],
  name: string,
  logger: Logger,
): Promise<NatsConnection> {
  const o = natsConnectOptions(nats);
  try {
    const nc = await connect({
      servers: o.servers,
      user: o.user,
      pass: o.pass,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 10_000,
    });
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
          logger.warn({ nats: o.display, event: s.type, data: String(s.data) }, `nats ${s.type}`);
        }
      }
    })().catch(() => {});
    return nc;
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.NATS_UNREACHABLE,
      `source.nats.url: cannot connect to ${o.display} as user "${o.user}": ${(err as Error).message}; check that nats-server runs there (tkmprom nats-config prints its configuration) and the user and password (TKMPROM_NATS_USERNAME, TKMPROM_NATS_PASSWORD)`,
    );
  }
}

function jetStreamFailed(what: string, err: unknown): TkmpromError {
  return new TkmpromError(
    ErrorCodes.NATS_JETSTREAM_FAILED,
    `${what}: ${(err as Error).message}; check that JetStream is enabled for the tkmprom account and has room (tkmprom nats-config prints a configuration that does)`,
  );
}

/** Creates the stream when missing; throws TKM_NATS_JETSTREAM_FAILED naming it. */
export async function ensureStream(jsm: JetStreamManager, stream: StreamOptions): Promise<void> {
  const cfg = streamConfig(stream);
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch {}
  try {
    await jsm.streams.add(cfg as unknown as Partial<StreamConfig>);
  } catch (err) {
    // Another instance may have created it meanwhile.
    const exists = await jsm.streams.info(cfg.name).then(
      () => true,
      () => false,
    );
    if (!exists)
      throw jetStreamFailed(
        `JetStream stream ${cfg.name} (${cfg.subjects.join(', ')}): cannot create it`,
        err,
      );
  }
}

/** Creates or updates a durable pull consumer; throws TKM_NATS_JETSTREAM_FAILED naming it. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    await jsm.consumers.info(stream, cfg.durable_name);
    await jsm.consumers.update(stream, cfg.durable_name, cfg);
    return;
  } catch {}
  try {
    await jsm.consumers.add(stream, cfg);
  } catch (err) {
    const exists = await jsm.consumers.info(stream, cfg.durable_name).then(
      () => true,
      () => false,
    );
    if (!exists)
      throw jetStreamFailed(
        `JetStream consumer ${cfg.durable_name} of stream ${stream}: cannot create it`,
        err,
      );
  }
}

/**
 * The keyer: reads the fleet's one-level messages longer than 12 characters (requests,
 * heartbeats, boots, `DEVICE_BOOTED`, hand-offs; the copies nats-server's import sliced) through
 * one durable consumer that every keyer shares, so any number of them split the work, and
 * republishes each to its device's partition. The copy keeps the time nats-server received the
 * original (`Tkm-Seen`, epoch nanoseconds), so the exporter dates it as it dates the replies, and
 * carries `Nats-Msg-Id` = the original's sequence, so a message republished twice (a keyer killed
 * between publish and acknowledgement) is stored once. Acknowledged only once the stream has the
 * copy: a keyer that dies loses nothing; its unacknowledged messages go to the others.
 */
export async function startKeyer(o: KeyerOptions): Promise<RunningKeyer> {
  const nc = await connectNats(o.nats, 'tkmprom-keyer', o.logger);
  const streamName = o.stream.name;
  try {
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, o.stream);
    await ensureConsumer(jsm, streamName, {
      durable_name: KEYER_DURABLE,
      filter_subject: KEYER_FILTER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 5_000_000_000,
      max_ack_pending: 65_536,
    });
  } catch (err) {
    await nc.close();
    throw err;
  }
  const js = nc.jetstream();
  const keying = new Keying(o.partitions, o.maxPayloadBytes);
  let keyed = 0;
  let stopped = false;
  const consumer = await js.consumers.get(streamName, KEYER_DURABLE);
  const messages = await consumer.consume({ max_messages: IN_FLIGHT });
  const done = (async () => {
    for await (const m of messages) {
      const topic = topicOfSubject(m.subject);
      if (topic === undefined) {
        m.term('outside the subject layout');
        continue;
      }
      const h = headers();
      h.set(SEEN_HEADER, String(m.info.timestampNanos));
      h.set('Nats-Msg-Id', `tkm-${m.seq}`);
      js.publish(keyedSubject(keying.partition(topic, m.data), topic), m.data, { headers: h }).then(
        () => {
          keyed++;
          m.ack();
        },
        (err: Error) => {
          if (!stopped) o.logger.warn({ err: err.message, seq: m.seq }, 'keyer: republish failed, retried');
          m.nak(500);
        },
      );
    }
  })();
  o.logger.info(
    { partitions: o.partitions, stream: streamName, filter: KEYER_FILTER, durable: KEYER_DURABLE },
    'tkmprom keyer started',
  );
  return {
    get keyed() {
      return keyed;
    },
    async stop() {
      stopped = true;
      await messages.close();
      await done.catch(() => {});
      await nc.drain().catch(() => nc.close());
    },
  };
}
