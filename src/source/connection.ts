import { createConnection, type NetConnectOpts, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import mqtt, { type IClientOptions, MqttClient } from 'mqtt';
import { type BatchedReads, pauseAfterSmallReads } from './batch-reads.js';
import { type OnOversize, type OnPublish, PublishFrames } from './publish-frames.js';

/** PUBLISH frames with a larger payload are skipped as they stream in, and reported. */
export interface PayloadLimit {
  maxPayloadBytes: number;
  onOversize: OnOversize;
}

/** An MQTT.js client, and a way to read at once what batching holds back. */
export interface BrokerConnection {
  client: MqttClient;
  /**
   * Ends a batching pause now, so that what the broker sent meanwhile is read before the caller
   * goes on; resolves once it has been (two turns of the event loop), at once when not paused.
   */
  catchUp(): Promise<void>;
  /** How far behind the broker reading is now (a batching pause): see `BatchedReads.lagMs`. */
  lagMs(): number;
  /** Whether QoS 0 PUBLISH frames go straight to `onPublish` (plain TCP) or through MQTT.js. */
  readonly direct: boolean;
}

/**
 * Connects MQTT.js to the broker. On a plain TCP connection (`mqtt://`, `tcp://`) the socket is
 * made here and two things happen before MQTT.js sees a byte:
 *
 * - QoS 0 PUBLISH frames, the whole of the fleet's traffic, are split off and handed to
 *   `onPublish` directly (see `PublishFrames`); MQTT.js gets the rest and keeps the session:
 *   CONNECT, SUBSCRIBE, keepalive, reconnects. Messages it does see (QoS 1 or 2, MQTT 5 with
 *   properties) reach `onPublish` through its `message` event, so every message arrives once.
 * - While traffic is light, the socket is read at most once per `batchWindowMs` (see
 *   `pauseAfterSmallReads`); 0 reads as soon as data arrives.
 *
 * This goes through MQTT.js's documented `new MqttClient(streamBuilder, options)`. TLS, WebSocket
 * and SOCKS are left to `mqtt.connect` as they are, every message through MQTT.js.
 */
export function connectMqtt(
  url: string,
  options: IClientOptions,
  batchWindowMs: number,
  onPublish: OnPublish,
  oversize?: PayloadLimit,
): BrokerConnection {
  const u = new URL(url);
  const plain = u.protocol === 'mqtt:' || u.protocol === 'tcp:';
  // MQTT.js turns mqtt:// with a client certificate into mqtts://, and honours a SOCKS proxy from the environment.
  const special =
    (options.cert !== undefined && options.key !== undefined) || !!process.env.MQTTJS_SOCKS_PROXY;
  if (!plain || special) {
    const client = mqtt.connect(url, options);
    client.on('message', (topic, payload) => onPublish(topic, payload, 0));
    return { client, catchUp: () => Promise.resolve(), lagMs: () => 0, direct: false };
  }

  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? 1883 : Number(u.port);
  const fromUrl = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  const opts: IClientOptions = {
    ...options,
    protocol: 'mqtt',
    host,
    hostname: host,
    port,
    username: options.username ?? fromUrl(u.username),
    password: options.password ?? fromUrl(u.password),
  };
  const protocolVersion = opts.protocolVersion ?? 4;
  let batching: BatchedReads | undefined;
  let current: FramesStream | undefined;
  const client = new MqttClient(() => {
    // readableHighWaterMark reaches net.Socket through its Duplex options; @types/node leaves it out
    // here. One byte, so that a paused socket stops reading from the kernel instead of filling its own
    // buffer one message at a time.
    const socket = createConnection({ host, port, readableHighWaterMark: 1 } as NetConnectOpts);
    // The stream's listener comes first, so that it reads how long a read waited before batching moves on.
    const stream = new FramesStream(
      socket,
      protocolVersion,
      onPublish,
      () => (batching === undefined ? 0 : batching.waitedMs(performance.now())),
      oversize,
    );
    // With a window of 0 it only makes full reads yield to other sockets between them.
    batching = pauseAfterSmallReads(socket, batchWindowMs);
    current = stream;
    return stream;
  }, opts);
  countBytesAsLife(client, () => current?.bytesRead ?? 0);
  client.on('message', (topic, payload) => onPublish(topic, payload, 0));
  return {
    client,
    catchUp: () => batching?.catchUp() ?? Promise.resolve(),
    lagMs: () => batching?.lagMs(performance.now()) ?? 0,
    direct: true,
  };
}

/**
 * MQTT.js's keepalive sends a PINGREQ and drops the connection when no PINGRESP comes in time. Here
 * it never sees the PUBLISH frames split off before it, so a backlog of them in front of the
 * PINGRESP (a burst, a batching pause, a busy process) would look like a dead broker and cost a
 * reconnect, and with it every pending request. Any byte read since the ping went out shows the
 * broker is alive: the timeout then starts the keepalive cycle over instead.
 */
function countBytesAsLife(client: MqttClient, bytesRead: () => number): void {
  let atPing = 0;
  const sendPing = client.sendPing.bind(client);
  const onKeepaliveTimeout = client.onKeepaliveTimeout.bind(client);
  client.sendPing = () => {
    atPing = bytesRead();
    sendPing();
  };
  client.onKeepaliveTimeout = () => {
    if (bytesRead() !== atPing) {
      atPing = bytesRead();
      client.reschedulePing(true);
      return;
    }
    onKeepaliveTimeout();
  };
}

/**
 * The stream MQTT.js reads and writes: the socket, less the PUBLISH frames taken out on the way in.
 * Writes go straight to the socket; the socket's end, errors and close become this stream's.
 */
export class FramesStream extends Duplex {
  private readonly frames: PublishFrames;
  /** Every byte read from the socket, split off or passed on. */
  bytesRead = 0;

  constructor(
    private readonly tcp: Socket,
    protocolVersion: number,
    onPublish: OnPublish,
    waitedMs: () => number = () => 0,
    limit?: PayloadLimit,
  ) {
    super({ allowHalfOpen: false });
    // Control packets are a few per minute and tiny: no backpressure towards MQTT.js is needed.
    this.frames = new PublishFrames(
      protocolVersion,
      onPublish,
      (bytes) => this.push(bytes),
      limit?.maxPayloadBytes,
      limit?.onOversize,
    );
    tcp.on('data', (chunk: Buffer) => {
      this.bytesRead += chunk.length;
      this.frames.write(chunk, waitedMs());
    });
    tcp.on('end', () => this.push(null));
    tcp.on('error', (err) => this.destroy(err));
    tcp.on('close', () => this.destroy());
  }

  /** Frames delivered directly, and bytes given to MQTT.js. */
  get counts(): { delivered: number; passedOn: number } {
    return { delivered: this.frames.delivered, passedOn: this.frames.passedOn };
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.tcp.write(chunk, done);
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    done: (err?: Error | null) => void,
  ): void {
    this.tcp.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.tcp.write(chunks[i]!.chunk);
    this.tcp.write(chunks[chunks.length - 1]!.chunk, done);
    this.tcp.uncork();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.tcp.end(done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.tcp.destroy();
    done(err);
  }
}
