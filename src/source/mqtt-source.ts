import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Config } from '../config/index.js';
import { SUBSCRIPTIONS } from '../protocol/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { connectMqtt } from './connection.js';
import { PROPERTY_ALLOWANCE_BYTES } from './publish-frames.js';
import { SilenceWatch, silenceRule } from './silence.js';

/** How often the silence watch looks at the count of messages received. */
const SILENCE_LOOK_MS = 250;
/** Silences closer together than this are in a row: each reconnect then waits longer. */
const SILENCE_STREAK_MS = 5 * 60_000;
/**
 * MQTT 5 Maximum Packet Size counts the whole packet: beyond the payload, a fixed header (5), a
 * topic (its length, 2, and the topic: the fleet's are under 100 bytes), a packet id (2) and
 * properties.
 */
const PACKET_HEADROOM_BYTES = 5 + 2 + 1024 + 2 + PROPERTY_ALLOWANCE_BYTES;

/** What a source feeds: the exporter, or anything else with the same shape (a benchmark sink). */
export interface MessageSink {
  /** `ageMs`: how long before now the message is estimated to have reached the process (0: now). */
  handle(topic: string, payload: Buffer, ageMs?: number): void;
  /** How far behind the broker the source reads at the moment: nothing later than that has been seen. */
  readLag?: () => number;
  connectionLost(): void;
  setConnected(connected: boolean): void;
  reconnected(): void;
  /** Set by the source: whether the clock may decide timeouts now (see `LinkState`). */
  link?: LinkState;
  /**
   * The connection carried messages and then fell silent past its threshold: what is pending
   * cannot be answered where we can see it. The source reconnects next.
   */
  silenced?(silentMs: number): void;
  /** A PUBLISH over `limits.maxPayloadBytes`, skipped as it streamed in, never buffered. */
  oversize?(topic: string, bytes: number): void;
}

export interface LinkState {
  /**
   * Connected, subscribed, and messages arrive as the feed's own rate expects (the silence
   * threshold has not passed): a request with no reply by its deadline is then a timeout by the
   * clock. Otherwise only a later message in the stream can show that its deadline passed.
   */
  healthy(): boolean;
  /**
   * While healthy: how far past the latest message the clock may decide timeouts (the feed's own
   * expected lull); Infinity when the link is not watched.
   */
  clockGraceMs(): number;
}

export interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Connected and subscribed, and the feed not silent: the exporter sees the fleet. */
  readonly ready: boolean;
  /** Why not ready, for `/readyz`; undefined when ready. */
  readonly notReadyReason?: string | undefined;
  /**
   * Why `/metrics` answers 503 for now (a replay of a stream has not caught up, so the counters
   * would show a past state); undefined when it may answer.
   */
  readonly metricsWithheld?: string | undefined;
  /**
   * Resolves once what has reached the process is handled: a source that batches its reads ends
   * the current pause. `/metrics` waits for it, so a scrape shows every message that arrived
   * before it.
   */
  catchUp?(): Promise<void>;
}

/**
 * Reads the fleet from an MQTT broker with MQTT.js. Subscribes on every connect (so a broker
 * restart that lost the session is covered), backs off exponentially with jitter between
 * reconnects, and tells the sink when the connection drops so pending requests are not
 * mistaken for timeouts.
 */
export class MqttSource implements Source {
  private client: MqttClient | undefined;
  private subscribed = false;
  private everConnected = false;
  private attempt = 0;
  private catchUpReads: () => Promise<void> = () => Promise.resolve();
  /** Messages received on every connection so far; the silence watch reads it on a timer. */
  private received = 0;
  private readonly watch: SilenceWatch;
  private watchTimer: NodeJS.Timeout | undefined;
  private silencesInARow = 0;
  private lastSilenceAt = Number.NEGATIVE_INFINITY;
  /** The connection now closing was closed by the silence watch. */
  private closedForSilence = false;

  constructor(
    private readonly cfg: Config['mqtt'],
    private readonly sink: MessageSink,
    private readonly logger: Logger,
    private readonly limits: Pick<Config['limits'], 'maxPayloadBytes'> = { maxPayloadBytes: 16_384 },
  ) {
    this.watch = new SilenceWatch(silenceRule(cfg.silenceTimeout));
  }

  get ready(): boolean {
    return this.connectedAndSubscribed() && !this.silentNow(performance.now());
  }

  get notReadyReason(): string | undefined {
    const now = performance.now();
    const url = redact(this.cfg.url);
    if (this.silentNow(now)) {
      const seconds = (this.watch.sinceLastMessageMs(now) / 1000).toFixed(1);
      return `no MQTT message for ${seconds} s from ${url}${this.connectedAndSubscribed() ? '' : '; reconnecting'}`;
    }
    if (!this.connectedAndSubscribed()) return `not connected and subscribed to ${url}`;
    return undefined;
  }

  private connectedAndSubscribed(): boolean {
    return this.subscribed && this.client?.connected === true;
  }

  /** Declared silent with nothing since, or past the threshold and about to be declared. */
  private silentNow(now: number): boolean {
    this.watch.observe(now, this.received);
    return this.watch.isSilent || this.watch.overdue(now);
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const options: IClientOptions = {
      clientId: cfg.clientId ?? `tkmprom-${randomBytes(4).toString('hex')}`,
      username: cfg.username,
      password: cfg.password,
      keepalive: Math.max(1, Math.round(cfg.keepalive / 1000)),
      protocolVersion: cfg.protocolVersion,
      clean: true,
      reconnectPeriod: cfg.reconnectMin,
      connectTimeout: 10_000,
      resubscribe: false,
      reconnectOnConnackError: true,
      rejectUnauthorized: cfg.rejectUnauthorized,
      ca: readTls(cfg.caFile, 'mqtt.caFile'),
      cert: readTls(cfg.certFile, 'mqtt.certFile'),
      key: readTls(cfg.keyFile, 'mqtt.keyFile'),
      // MQTT.js otherwise builds 65,536 two-byte Buffers (6.3 MB of heap) to write packet numbers
      // faster; a subscriber writes a handful of packets a minute.
      writeCache: false,
    };
    if (cfg.protocolVersion === 5) {
      // The broker then drops what the exporter would drop anyway, instead of sending it.
      options.properties = { maximumPacketSize: this.limits.maxPayloadBytes + PACKET_HEADROOM_BYTES };
    }
    const sink = this.sink;
    const { client, catchUp, lagMs } = connectMqtt(
      cfg.url,
      options,
      cfg.batchWindow,
      (topic, payload, age) => {
        this.received++;
        sink.handle(topic, payload, age);
      },
      {
        maxPayloadBytes: this.limits.maxPayloadBytes,
        onOversize: (topic, bytes) => {
          this.received++;
          sink.oversize?.(topic, bytes);
        },
      },
    );
    this.client = client;
    this.catchUpReads = catchUp;
    sink.readLag = lagMs;
    sink.link = {
      healthy: () => this.connectedAndSubscribed() && !this.silentNow(performance.now()),
      clockGraceMs: () => this.watch.clockGraceMs(),
    };
    if (this.watch.enabled) {
      this.watchTimer = setInterval(() => this.look(), SILENCE_LOOK_MS);
      this.watchTimer.unref();
    }
    client.on('connect', () => this.onConnect(client));
    client.on('close', () => this.onClose(client));
    client.on('error', (err) => this.logger.warn({ err: err.message, url: redact(cfg.url) }, 'mqtt error'));
    client.on('offline', () => this.logger.warn({ url: redact(cfg.url) }, 'mqtt offline'));
  }

  catchUp(): Promise<void> {
    return this.catchUpReads();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    if (client === undefined) return;
    await client.endAsync(true).catch(() => {});
    this.sink.setConnected(false);
  }

  /**
   * Declares the feed silent once the connection that carried messages has been quiet past the
   * threshold: counted, logged, pending requests interrupted, and the connection replaced (the
   * broker may have lost the subscription, or the path to it may be dead without a reset).
   */
  private look(): void {
    const client = this.client;
    const now = performance.now();
    this.watch.observe(now, this.received);
    if (client === undefined || !this.connectedAndSubscribed() || !this.watch.overdue(now)) return;
    const silentMs = this.watch.quietForMs(now);
    const thresholdMs = this.watch.thresholdMs();
    this.watch.declare();
    this.silencesInARow = now - this.lastSilenceAt < SILENCE_STREAK_MS ? this.silencesInARow + 1 : 1;
    this.lastSilenceAt = now;
    const url = redact(this.cfg.url);
    this.logger.warn(
      {
        url,
        silentSeconds: Math.round(silentMs / 100) / 10,
        thresholdSeconds: Math.round(thresholdMs / 100) / 10,
      },
      `no MQTT message for ${(silentMs / 1000).toFixed(1)} s from ${url}: reconnecting`,
    );
    this.sink.silenced?.(silentMs);
    this.closedForSilence = true;
    client.stream.destroy();
  }

  private onConnect(client: MqttClient): void {
    if (this.everConnected) this.sink.reconnected();
    this.everConnected = true;
    this.attempt = 0;
    this.watch.connected(this.received);
    client.options.reconnectPeriod = this.cfg.reconnectMin;
    this.logger.info({ url: redact(this.cfg.url) }, 'mqtt connected');
    client.subscribe(
      SUBSCRIPTIONS.map((t) => t),
      { qos: 0 },
      (err, granted) => {
        const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
        if (err || refused.length > 0) {
          this.logger.error({ err: err?.message, refused }, 'mqtt subscription refused');
          return;
        }
        this.subscribed = true;
        this.sink.setConnected(true);
        this.logger.info({ topics: SUBSCRIPTIONS }, 'mqtt subscribed');
      },
    );
  }

  private onClose(client: MqttClient): void {
    const wasReady = this.subscribed;
    this.subscribed = false;
    if (wasReady) {
      this.sink.setConnected(false);
      this.sink.connectionLost();
      this.logger.warn({ url: redact(this.cfg.url) }, 'mqtt connection lost');
    }
    // MQTT.js reconnects at a fixed period; stretching it here gives exponential backoff with jitter.
    // A silence reconnects at once the first time, and backs off as silences keep coming.
    this.attempt = this.closedForSilence ? this.silencesInARow : this.attempt + 1;
    this.closedForSilence = false;
    const base = Math.min(this.cfg.reconnectMax, this.cfg.reconnectMin * 2 ** Math.min(this.attempt - 1, 16));
    client.options.reconnectPeriod = Math.round(base * (0.5 + Math.random() * 0.5));
  }
}

function readTls(file: string | undefined, field: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.TLS_FILE_UNREADABLE,
      `${field}: cannot read ${file}: ${(err as Error).message}`,
    );
  }
}

/** Never log credentials embedded in a URL. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
