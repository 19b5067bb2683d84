import { readFile } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BrokerCounters } from './counters.js';
import {
  BrokerListenError,
  type BrokerOptions,
  formatHostPort,
  type ListenerKind,
  limitedLog,
} from './types.js';

// CONNACK, remaining length 2, no session, return code 3 "server unavailable".
const CONNACK_SERVER_UNAVAILABLE = Buffer.from([0x20, 0x02, 0x00, 0x03]);
// A refused client gets this long to send its CONNECT before the CONNACK is written anyway.
const REFUSE_WAIT_MS = 2_000;
const REFUSE_LINGER_MS = 2_000;

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

export type TlsMaterial = [cert: Buffer, key: Buffer, ca: Buffer | undefined];

/** The TLS listener's files, read before anything is opened so that a bad path fails start-up first. */
export async function readTlsMaterial(opts: BrokerOptions['tls']): Promise<TlsMaterial | undefined> {
  if (!opts) return undefined;
  return Promise.all([
    readTlsFile(opts.certFile, 'certificate'),
    readTlsFile(opts.keyFile, 'key'),
    opts.caFile !== undefined ? readTlsFile(opts.caFile, 'CA') : Promise.resolve(undefined),
  ]);
}

/**
 * Holds a socket corked from its first write in a turn of the event loop until the next turn, so
 * what aedes writes to one client in one turn (each delivery in its own setImmediate, each packet
 * corked and uncorked by mqtt-packet) leaves in one writev instead of one per packet. Set up once
 * per connection; per turn it costs one setImmediate, nothing per packet.
 */
export function batchWrites(socket: net.Socket): void {
  let held = false;
  const cork = socket.cork;
  const release = () => {
    held = false;
    socket.uncork();
  };
  socket.cork = () => {
    if (!held) {
      held = true;
      cork.call(socket);
      setImmediate(release);
    }
    cork.call(socket);
  };
}

/**
 * The broker's network side: plain, TLS and WebSocket listeners handing connections to aedes, the
 * connection cap (refused with CONNACK 3 before aedes sees them), and wire byte counts.
 */
export class Listeners {
  private closing = false;
  private readonly liveSockets = new Set<net.Socket>();
  private readonly mqttStreams = new Set<Duplex>();
  private readonly refusing = new Set<Duplex>();
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private readonly servers: net.Server[] = [];
  private wss: WebSocketServer | undefined;
  private serversClosed: Promise<void>[] = [];
  private readonly addrs: { mqtt?: string; mqtts?: string; ws?: string } = {};
  private readonly logRefusal = limitedLog(20);

  constructor(
    private readonly aedes: Aedes,
    private readonly maxConnections: number | undefined,
    private readonly counters: BrokerCounters,
    private readonly log: Logger,
  ) {}

  addresses(): { mqtt?: string; mqtts?: string; ws?: string } {
    return { ...this.addrs };
  }

  /** Wire bytes of closed and open connections. */
  bytes(): { in: number; out: number } {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    for (const socket of this.liveSockets) {
      bytesIn += socket.bytesRead;
      bytesOut += socket.bytesWritten;
    }
    return { in: bytesIn, out: bytesOut };
  }

  private trackSocket(socket: net.Socket): void {
    this.liveSockets.add(socket);
    socket.once('close', () => {
      this.liveSockets.delete(socket);
      this.closedBytesIn += socket.bytesRead;
      this.closedBytesOut += socket.bytesWritten;
    });
  }

  private refuseOverCap(stream: Duplex): void {
    this.counters.connectionsRefused.max_connections++;
    this.logRefusal(() =>
      this.log.warn({ maxConnections: this.maxConnections }, 'connection refused: too many connections'),
    );
    this.refusing.add(stream);
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
      this.refusing.delete(stream);
    });
  }

  private admit(stream: Duplex, req?: IncomingMessage): void {
    if (this.closing) {
      stream.destroy();
      return;
    }
    if (this.maxConnections !== undefined && this.mqttStreams.size >= this.maxConnections) {
      this.refuseOverCap(stream);
      return;
    }
    this.mqttStreams.add(stream);
    stream.once('close', () => this.mqttStreams.delete(stream));
    this.aedes.handle(stream, req);
  }

  /** Opens every configured listener; on failure the caller closes what was opened. */
  async open(opts: BrokerOptions, tlsMaterial: TlsMaterial | undefined): Promise<void> {
    if (opts.listen) {
      const server = net.createServer((socket) => {
        this.trackSocket(socket);
        batchWrites(socket);
        this.admit(socket);
      });
      this.servers.push(server);
      await listenOn(server, opts.listen.host, opts.listen.port, 'mqtt');
      this.addrs.mqtt = boundAddress(server, 'mqtt');
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
      server.on('connection', (socket: net.Socket) => this.trackSocket(socket));
      server.on('secureConnection', (socket) => {
        batchWrites(socket);
        this.admit(socket);
      });
      server.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'TLS handshake failed'));
      this.servers.push(server);
      await listenOn(server, opts.tls.host, opts.tls.port, 'mqtts');
      this.addrs.mqtts = boundAddress(server, 'mqtts');
    }
    if (opts.websocket) {
      const server = http.createServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
        res.end('this endpoint speaks MQTT over WebSocket only\n');
      });
      server.on('connection', (socket: net.Socket) => this.trackSocket(socket));
      this.servers.push(server);
      const path = opts.websocket.path;
      const wss = new WebSocketServer({
        server,
        path,
        handleProtocols: (protocols) =>
          protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
      });
      this.wss = wss;
      wss.on('connection', (socket, req) => this.admit(createWebSocketStream(socket), req));
      wss.on('error', (err) => this.log.error({ err }, 'WebSocket server error'));
      await listenOn(server, opts.websocket.host, opts.websocket.port, 'ws');
      this.addrs.ws = boundAddress(server, 'ws', path ?? '');
    }
    for (const server of this.servers) server.on('error', (err) => this.log.error({ err }, 'listener error'));
  }

  /** Stops accepting: new connections are refused from here on; open ones stay until `closeAll`. */
  stopAccepting(): void {
    this.closing = true;
    this.serversClosed = this.servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
        }),
    );
    this.wss?.close();
  }

  /** Drops every connection still open (after aedes has closed its clients) and waits for the servers. */
  async closeAll(): Promise<void> {
    for (const client of this.wss?.clients ?? []) client.terminate();
    for (const stream of this.refusing) stream.destroy();
    for (const socket of this.liveSockets) socket.destroy();
    await Promise.all(this.serversClosed);
  }
}
