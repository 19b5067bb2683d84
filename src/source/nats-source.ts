import {
  AckPolicy,
  type ConsumerConfig,
  connect,
  DeliverPolicy,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import type { StreamConfig } from 'nats';
import {
  type Config,
  natsConnectOptions,
  partitionFilter,
  SEEN_HEADER,
  streamConfig,
  topicOfSubject,
} from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MessageSink, Source } from './mqtt-source.js';

const wallNow = (): number => performance.timeOrigin + performance.now();
/** How often held messages are looked at when nothing new arrives. */
const RELEASE_LOOK_MS = 50;

interface Held {
  topic: string;
  payload: Buffer;
  /** Wall-clock ms when nats-server received the message (the original's, for a keyed copy). */
  at: number;
  msg: JsMsg;
}

/**
 * Reads one partition of the fleet from the JetStream stream through a durable pull consumer
 * (README "Scaling out"). Each message is dated by when nats-server received it; a keyed copy by
 * its original's arrival (`Tkm-Seen`). Messages are held `source.nats.reorderWindow` and handed
 * on in that order, so a reply that reached the stream before its request (which took the
 * keyer's hop) still comes after it (docs/correlation.md).
 */
export class NatsSource implements Source {
  private nc: NatsConnection | undefined;
  private connected = false;
  private caughtUp = false;
  private held: Held[] = [];
  /** Latest arrival time read: stream time, which lets held messages go during a replay. */
  private latestAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private close: (() => Promise<void>) | undefined;

  constructor(
    private readonly cfg: Config['source']['nats'] & { partition: number; partitions: number },
    private readonly sink: MessageSink,
    private readonly logger: Logger,
  ) {}

  get ready(): boolean {
    return this.connected && this.caughtUp;
  }

  get notReadyReason(): string | undefined {
    if (!this.connected) return `not connected to ${natsConnectOptions(this.cfg).display}`;
    if (!this.caughtUp) return `reading the backlog of partition ${this.cfg.partition}`;
    return undefined;
  }

  private get durable(): string {
    return `${this.cfg.durable}_${this.cfg.partition}`;
  }

  async start(): Promise<void> {
    const o = natsConnectOptions(this.cfg);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: o.servers,
        user: o.user,
        pass: o.pass,
        name: `tkmprom-${this.cfg.partition}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      });
    } catch (err) {
      throw new TkmpromError(
        ErrorCodes.NATS_UNREACHABLE,
        `source.nats.url: cannot connect to ${o.display} as user "${o.user}": ${(err as Error).message}; check that nats-server runs there (tkmprom nats-config prints its configuration) and the user and password (TKMPROM_NATS_USERNAME, TKMPROM_NATS_PASSWORD)`,
      );
    }
    this.nc = nc;
    const stream = this.cfg.stream;
    try {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.info(stream).catch(() =>
        jsm.streams.add(
          streamConfig({
            name: stream,
            maxAgeMs: this.cfg.maxAge,
            replicas: this.cfg.replicas,
          }) as unknown as Partial<StreamConfig>,
        ),
      );
      const consumer: Partial<ConsumerConfig> & { durable_name: string } = {
        durable_name: this.durable,
        filter_subject: partitionFilter(this.cfg.partition),
        ack_policy: AckPolicy.All,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30_000_000_000,
        max_ack_pending: 100_000,
      };
      await jsm.consumers.info(stream, this.durable).catch(() => jsm.consumers.add(stream, consumer));
    } catch (err) {
      await nc.close();
      throw new TkmpromError(
        ErrorCodes.NATS_JETSTREAM_FAILED,
        `JetStream stream ${stream}, consumer ${this.durable}: ${(err as Error).message}; check that JetStream is enabled for the tkmprom account and has room (tkmprom nats-config prints a configuration that does)`,
      );
    }
    this.connected = true;
    this.sink.setConnected(true);
    this.sink.readLag = () => this.cfg.reorderWindow;
    this.sink.link = { healthy: () => this.ready, clockGraceMs: () => Number.POSITIVE_INFINITY };
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.sink.setConnected(false);
          this.sink.connectionLost();
          this.logger.warn({ nats: o.display }, 'nats connection lost');
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.sink.setConnected(true);
          this.sink.reconnected();
          this.logger.info({ nats: o.display }, 'nats reconnected');
        }
      }
    })().catch(() => {});
    const js = nc.jetstream();
    const c = await js.consumers.get(stream, this.durable);
    const pending = (await c.info()).num_pending;
    if (pending === 0) this.caughtUp = true;
    const messages = await c.consume({ max_messages: 1024 });
    this.close = async () => {
      await messages.close();
    };
    this.loop = (async () => {
      for await (const m of messages) this.take(m);
    })();
    this.timer = setInterval(() => this.release(), RELEASE_LOOK_MS);
    this.timer.unref();
    this.logger.info(
      { nats: o.display, stream, durable: this.durable, partition: this.cfg.partition, backlog: pending },
      'nats source reading',
    );
  }

  private take(m: JsMsg): void {
    const topic = topicOfSubject(m.subject);
    if (topic === undefined) {
      m.ack();
      return;
    }
    const seen = m.headers?.get(SEEN_HEADER);
    const at = (seen ? Number(seen) : m.info.timestampNanos) / 1e6;
    const h: Held = {
      topic,
      payload: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
      at,
      msg: m,
    };
    const held = this.held;
    let i = held.length;
    while (i > 0 && held[i - 1]!.at > at) i--;
    held.splice(i, 0, h);
    if (at > this.latestAt) this.latestAt = at;
    if (m.info.pending === 0) this.caughtUp = true;
    this.release();
  }

  /** Hands on, in arrival order, what has been held its window: by stream time, and by the clock once caught up. */
  private release(): void {
    const window = this.cfg.reorderWindow;
    let until = this.latestAt - window;
    if (this.caughtUp) until = Math.max(until, wallNow() - window);
    const held = this.held;
    let n = 0;
    let last: JsMsg | undefined;
    while (n < held.length && held[n]!.at <= until) {
      const h = held[n]!;
      this.sink.handle(h.topic, h.payload, Math.max(0, wallNow() - h.at));
      if (last === undefined || h.msg.seq > last.seq) last = h.msg;
      n++;
    }
    if (n === 0) return;
    held.splice(0, n);
    // Everything up to the lowest sequence still held is handed on.
    const floor = held.reduce((min, h) => Math.min(min, h.msg.seq), Number.POSITIVE_INFINITY);
    if (last !== undefined && last.seq < floor) last.ack();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.close?.();
    await this.loop?.catch(() => {});
    this.connected = false;
    await this.nc?.drain().catch(() => this.nc?.close());
    this.sink.setConnected(false);
  }
}
