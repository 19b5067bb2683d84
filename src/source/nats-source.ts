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
  topic: string | undefined;
  payload: Buffer;
  /** Wall-clock ms when nats-server received the message (the original's, for a keyed copy). */
  at: number;
  msg: JsMsg;
  /** Handed on to the sink (or skipped: not a fleet subject, or handed on before a restart). */
  handed: boolean;
}

/**
 * Where an exporter stands in the stream, kept in its state snapshot: every message of its
 * partition up to stream sequence `floor` is in the state, and so are those listed in `done`
 * (handed on ahead of an earlier one that was still held for the reorder window).
 */
export interface NatsPosition {
  stream: string;
  partition: number;
  partitions: number;
  floor: number;
  done: number[];
}

export interface NatsSourceOptions {
  /**
   * The exporter keeps a state snapshot whose counters continue (README "State across
   * restarts"): acknowledge only what a written snapshot covers, and replay from `position`.
   */
  exact?: boolean;
  /** The position of the restored snapshot, when there is one. */
  position?: NatsPosition;
  /** How long nats-server waits for an acknowledgement before it delivers a message again. */
  ackWaitMs?: number;
}

/**
 * Reads one partition of the fleet from the JetStream stream through a durable pull consumer
 * (README "Scaling out"). Each message is dated by when nats-server received it; a keyed copy by
 * its original's arrival (`Tkm-Seen`). Messages are held `source.nats.reorderWindow` and handed
 * on in that order, so a reply that reached the stream before its request (which took the
 * keyer's hop) still comes after it (docs/correlation.md).
 *
 * With `exact`, the position in the stream is part of the state snapshot (`stateRecords`); the
 * consumer is acknowledged up to what the last written snapshot covers, and a restart replays
 * from the next sequence, skipping what the snapshot already holds.
 */
export class NatsSource implements Source {
  private nc: NatsConnection | undefined;
  private connected = false;
  /** The backlog found at start has been read: from now on the clock releases held messages too. */
  private readThrough = false;
  /** ... and handed on: the state is the stream's as of start. */
  private caughtUp = false;
  /** Held for the reorder window, in arrival order. */
  private held: Held[] = [];
  /** Every message read and not yet below the floor, in stream order; `inFlightHead` is its start. */
  private inFlight: Held[] = [];
  private inFlightHead = 0;
  /** Highest stream sequence read. */
  private lastSeq = 0;
  /** Every message of the partition up to this stream sequence has been read. */
  private covered = 0;
  /** The stream's last sequence when the source started: the replay is caught up past it. */
  private target = 0;
  /** The message at the floor, the one an AckAll acknowledges. */
  private floorMsg: JsMsg | undefined;
  private ackedSeq = 0;
  /** Sequences handed on before the restart that the replay must not hand on again. */
  private readonly skip: Set<number>;
  /** While a snapshot is written nothing is handed on; `snapshotFloor` is acknowledged after. */
  private paused = false;
  private snapshotFloor: JsMsg | undefined;
  /** Arrival time up to which every held message has been handed on. */
  private releasedUntil = Number.NEGATIVE_INFINITY;
  /** Latest arrival time read: stream time, which lets held messages go during a replay. */
  private latestAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private close: (() => Promise<void>) | undefined;
  private readonly exact: boolean;
  private stopped = false;
  private resuming = false;
  private resumeAgain = false;

  constructor(
    private readonly cfg: Config['source']['nats'] & { partition: number; partitions: number },
    private readonly sink: MessageSink,
    private readonly logger: Logger,
    private readonly opts: NatsSourceOptions = {},
  ) {
    this.exact = opts.exact === true;
    this.skip = new Set(opts.position?.done ?? []);
    // Set before the exporter's first sweep: until the backlog is handed on, only stream time
    // decides timeouts, so restored requests wait for their replies in the replay.
    sink.readLag = () =>
      this.caughtUp
        ? Math.max(this.cfg.reorderWindow, wallNow() - this.releasedUntil)
        : this.cfg.reorderWindow;
    sink.link = { healthy: () => this.ready, clockGraceMs: () => Number.POSITIVE_INFINITY };
  }

  get ready(): boolean {
    return this.connected && this.caughtUp;
  }

  get notReadyReason(): string | undefined {
    if (!this.connected) return `not connected to ${natsConnectOptions(this.cfg).display}`;
    return this.metricsWithheld;
  }

  /** Why `/metrics` is not served yet: the backlog found at start is still being read. */
  get metricsWithheld(): string | undefined {
    if (this.caughtUp) return undefined;
    return `reading the backlog of partition ${this.cfg.partition}: at stream sequence ${this.floor()} of ${this.target}`;
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
    let startSeq: number | undefined;
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(stream).catch(() =>
        jsm.streams.add(
          streamConfig({
            name: stream,
            maxAgeMs: this.cfg.maxAge,
            replicas: this.cfg.replicas,
          }) as unknown as Partial<StreamConfig>,
        ),
      );
      this.target = info.state.last_seq;
      const existing = await jsm.consumers.info(stream, this.durable).catch(() => undefined);
      if (!this.exact) {
        if (existing === undefined) await jsm.consumers.add(stream, this.consumerConfig(undefined));
      } else {
        // The snapshot, not the consumer, says where to go on: the consumer is made anew there,
        // which also forgets what it delivered to a process that is gone.
        startSeq = this.replayStart(info.state.first_seq, existing?.ack_floor.stream_seq);
        if (existing !== undefined) await jsm.consumers.delete(stream, this.durable);
        await jsm.consumers.add(stream, this.consumerConfig(startSeq));
      }
    } catch (err) {
      await nc.close();
      throw new TkmpromError(
        ErrorCodes.NATS_JETSTREAM_FAILED,
        `JetStream stream ${stream}, consumer ${this.durable}: ${(err as Error).message}; check that JetStream is enabled for the tkmprom account and has room (tkmprom nats-config prints a configuration that does)`,
      );
    }
    this.lastSeq = Math.max(0, (startSeq ?? 1) - 1);
    this.covered = this.lastSeq;
    this.ackedSeq = this.lastSeq;
    this.connected = true;
    this.sink.setConnected(true);
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.sink.setConnected(false);
          // What the stream holds waits for the reconnect: an exact replay loses nothing.
          if (!this.exact) this.sink.connectionLost();
          this.logger.warn({ nats: o.display }, 'nats connection lost');
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.sink.setConnected(true);
          this.sink.reconnected();
          this.logger.info({ nats: o.display }, 'nats reconnected');
          if (this.exact) void this.readOnAfterReconnect();
        }
      }
    })().catch(() => {});
    const pending = await this.consume();
    if (pending === 0) this.readAll();
    this.release();
    this.timer = setInterval(() => this.release(), RELEASE_LOOK_MS);
    this.timer.unref();
    this.logger.info(
      {
        nats: o.display,
        stream,
        durable: this.durable,
        partition: this.cfg.partition,
        backlog: pending,
        ...(this.exact && { fromSequence: this.lastSeq + 1, streamLastSequence: this.target }),
      },
      'nats source reading',
    );
  }

  private consumerConfig(startSeq: number | undefined): Partial<ConsumerConfig> & { durable_name: string } {
    return {
      durable_name: this.durable,
      filter_subject: partitionFilter(this.cfg.partition),
      ack_policy: AckPolicy.All,
      ...(startSeq !== undefined && startSeq > 1
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }
        : { deliver_policy: DeliverPolicy.All }),
      ack_wait: Math.max(30_000, this.opts.ackWaitMs ?? 0) * 1_000_000,
      max_ack_pending: this.exact ? -1 : 100_000,
    };
  }

  /** Starts reading the consumer; returns how many messages it had waiting. */
  private async consume(): Promise<number> {
    const c = await this.nc!.jetstream().consumers.get(this.cfg.stream, this.durable);
    const pending = (await c.info()).num_pending;
    const messages = await c.consume({ max_messages: 1024 });
    this.close = async () => {
      await messages.close();
    };
    this.loop = (async () => {
      for await (const m of messages) this.take(m);
    })();
    return pending;
  }

  /**
   * After a lost connection, messages nats-server had sent that never arrived would come again
   * only after the acknowledgement wait, behind later ones: the consumer is made anew right after
   * the last sequence read, so the partition is read on in order, without a gap.
   */
  private async readOnAfterReconnect(): Promise<void> {
    if (this.resuming) {
      this.resumeAgain = true;
      return;
    }
    this.resuming = true;
    try {
      do {
        this.resumeAgain = false;
        await this.close?.();
        await this.loop?.catch(() => {});
        for (let attempt = 0; !this.stopped; attempt++) {
          try {
            const jsm = await this.nc!.jetstreamManager();
            await jsm.consumers.delete(this.cfg.stream, this.durable).catch(() => {});
            await jsm.consumers.add(this.cfg.stream, this.consumerConfig(this.lastSeq + 1));
            await this.consume();
            this.logger.info(
              { partition: this.cfg.partition, fromSequence: this.lastSeq + 1 },
              'nats source reads on after the reconnect',
            );
            break;
          } catch (err) {
            // JetStream takes a moment to come back after a server restart.
            this.logger.warn(
              { err: (err as Error).message, attempt },
              'nats consumer not back yet: retrying',
            );
            await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
          }
        }
      } while (this.resumeAgain && !this.stopped);
    } finally {
      this.resuming = false;
    }
  }

  /** Where an exact replay starts: after the snapshot's floor, else after the consumer's acknowledgements. */
  private replayStart(firstSeq: number, ackFloor: number | undefined): number | undefined {
    const p = this.opts.position;
    if (p === undefined) return ackFloor === undefined ? undefined : ackFloor + 1;
    if (p.floor > this.target) {
      this.logger.warn(
        { stream: this.cfg.stream, snapshotSequence: p.floor, streamLastSequence: this.target },
        'the state snapshot is past the end of the stream (was the stream made anew?): reading the stream from its start',
      );
      this.skip.clear();
      return undefined;
    }
    if (firstSeq > p.floor + 1 && this.target >= firstSeq) {
      this.logger.warn(
        { stream: this.cfg.stream, snapshotSequence: p.floor, streamFirstSequence: firstSeq },
        'messages after the state snapshot have left the stream (source.nats.maxAge): the counters miss them',
      );
    }
    return p.floor + 1;
  }

  /** Every message of the partition up to `target` has been read. */
  private readAll(): void {
    this.readThrough = true;
    if (this.covered < this.target) this.covered = this.target;
  }

  private take(m: JsMsg): void {
    const seq = m.seq;
    // Delivered again after the acknowledgement wait: it was read already.
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.covered = seq;
    const topic = this.skip.delete(seq) ? undefined : topicOfSubject(m.subject);
    const seen = m.headers?.get(SEEN_HEADER);
    const at = (seen ? Number(seen) : m.info.timestampNanos) / 1e6;
    const h: Held = {
      topic,
      payload: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
      at,
      msg: m,
      handed: topic === undefined,
    };
    this.inFlight.push(h);
    if (topic !== undefined) {
      const held = this.held;
      let i = held.length;
      while (i > 0 && held[i - 1]!.at > at) i--;
      held.splice(i, 0, h);
      if (at > this.latestAt) this.latestAt = at;
    }
    if (m.info.pending === 0 || seq >= this.target) this.readAll();
    this.release();
  }

  /** The stream sequence up to which every message of the partition has been handed on. */
  private floor(): number {
    const head = this.inFlight[this.inFlightHead];
    return head === undefined ? this.covered : head.msg.seq - 1;
  }

  /** Hands on, in arrival order, what has been held its window: by stream time, and by the clock once caught up. */
  private release(): void {
    if (this.paused || this.stopped) return;
    const window = this.cfg.reorderWindow;
    let until = this.latestAt - window;
    if (this.readThrough) until = Math.max(until, wallNow() - window);
    const held = this.held;
    let n = 0;
    while (n < held.length && held[n]!.at <= until) {
      const h = held[n]!;
      h.handed = true;
      this.sink.handle(h.topic!, h.payload, Math.max(0, wallNow() - h.at));
      n++;
    }
    if (n > 0) held.splice(0, n);
    if (until > this.releasedUntil) this.releasedUntil = until;
    // The floor moves past what is handed on from the start of the stream order.
    const inFlight = this.inFlight;
    let head = this.inFlightHead;
    while (head < inFlight.length && inFlight[head]!.handed) this.floorMsg = inFlight[head++]!.msg;
    if (head === inFlight.length) {
      inFlight.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > inFlight.length) {
      inFlight.splice(0, head);
      head = 0;
    }
    this.inFlightHead = head;
    if (!this.exact) this.ack(this.floorMsg);
    if (!this.caughtUp && this.readThrough && this.floor() >= this.target) {
      this.caughtUp = true;
      this.logger.info(
        { partition: this.cfg.partition, streamSequence: this.floor() },
        'nats source caught up with the stream',
      );
    }
  }

  private ack(m: JsMsg | undefined): void {
    if (m === undefined || m.seq <= this.ackedSeq) return;
    this.ackedSeq = m.seq;
    try {
      m.ack();
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'nats acknowledgement not sent');
    }
  }

  /** The position for the state snapshot being written (between `pause` and `resume`). */
  *stateRecords(): Generator<readonly [string, NatsPosition]> {
    const done: number[] = [];
    for (let i = this.inFlightHead; i < this.inFlight.length; i++) {
      const h = this.inFlight[i]!;
      if (h.handed) done.push(h.msg.seq);
    }
    yield [
      'nats',
      {
        stream: this.cfg.stream,
        partition: this.cfg.partition,
        partitions: this.cfg.partitions,
        floor: this.floor(),
        done,
      },
    ];
  }

  /** A snapshot begins: nothing is handed on until it is written. */
  pause(): void {
    this.paused = true;
    this.snapshotFloor = this.floorMsg;
  }

  /** The snapshot is written (or failed): acknowledge what it covers, and go on. */
  resume(written: boolean): void {
    this.paused = false;
    if (written && this.exact) this.ack(this.snapshotFloor);
    this.snapshotFloor = undefined;
    this.release();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.close?.();
    await this.loop?.catch(() => {});
    // A consumer made anew after a reconnect meanwhile is closed too.
    await this.close?.();
    this.connected = false;
    await this.nc?.drain().catch(() => this.nc?.close());
    this.sink.setConnected(false);
  }
}
