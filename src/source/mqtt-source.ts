import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Config } from '../config/index.js';
import { SUBSCRIPTIONS } from '../protocol/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { connectMqtt } from './connection.js';

/** What a source feeds: the exporter, or anything else with the same shape (a benchmark sink). */
export interface MessageSink {
  /** `ageMs`: how long before now the message is estimated to have reached the process (0: now). */
  handle(topic: string, payload: Buffer, ageMs?: number): void;
  /** How far behind the broker the source reads at the moment: nothing later than that has been seen. */
  readLag?: () => number;
  connectionLost(): void;
  setConnected(connected: boolean): void;
  reconnected(): void;
}

export interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Connected and subscribed: the exporter sees the fleet. */
  readonly ready: boolean;
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

  constructor(
    private readonly cfg: Config['mqtt'],
    private readonly sink: MessageSink,
    private readonly logger: Logger,
  ) {}

  get ready(): boolean {
    return this.subscribed && this.client?.connected === true;
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
    const sink = this.sink;
    const { client, catchUp, lagMs } = connectMqtt(cfg.url, options, cfg.batchWindow, (topic, payload, age) =>
      sink.handle(topic, payload, age),
    );
    this.client = client;
    this.catchUpReads = catchUp;
    sink.readLag = lagMs;
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
    if (client === undefined) return;
    await client.endAsync(true).catch(() => {});
    this.sink.setConnected(false);
  }

  private onConnect(client: MqttClient): void {
    if (this.everConnected) this.sink.reconnected();
    this.everConnected = true;
    this.attempt = 0;
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
    this.attempt++;
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
