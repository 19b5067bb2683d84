import {
  createServer,
  type IncomingMessage,
  type Server as PlainServer,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type ServerOptions as TlsOptions,
} from 'node:https';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { negotiateFormat } from '../export/index.js';
import type { Registry } from '../export/index.js';
import { ExpositionBuffer } from '../export/index.js';
import type { Logger } from '../log.js';

/** A further route handler; returns false when the path is not its own. */
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => boolean | Promise<boolean>;

export interface HttpOptions {
  host: string;
  port: number;
  /** The option that set the address, named in errors: `--listen`. */
  optionName: string;
  registry: Registry;
  ready: () => boolean;
  /** Why not ready, printed by `/readyz`. */
  notReadyReason?: () => string | undefined;
  /** Awaited before each /metrics render, so that a scrape includes what has already arrived. */
  catchUp?: () => Promise<void>;
  /** A reason while `/metrics` must answer 503 (a replay that has not caught up). */
  metricsWithheld?: () => string | undefined;
  logger: Logger;
  routes?: RouteHandler[];
  /** Serve HTTPS with these options (web-config.ts) instead of HTTP. */
  tls?: TlsOptions;
  /** Runs before every route (web-config.ts); false: it has answered the request itself. */
  authorize?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

type Server = PlainServer | TlsServer;

export interface HttpServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpOptions): Promise<HttpServer> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, opts).catch((err) => {
      opts.logger.error({ err: (err as Error).message, url: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const server = opts.tls ? createTlsServer(opts.tls, onRequest) : createServer(onRequest);
  server.keepAliveTimeout = 65_000;
  await listen(server, opts.host, opts.port, opts.optionName);
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  const host = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (opts.authorize && !(await opts.authorize(req, res, url))) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  switch (url.pathname) {
    case '/metrics': {
      const withheld = opts.metricsWithheld?.();
      if (withheld !== undefined) {
        res.writeHead(503, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          'retry-after': '1',
        });
        res.end(`not ready: ${withheld}\n`);
        return;
      }
      if (opts.catchUp) await opts.catchUp();
      return serveMetrics(req, res, opts.registry);
    }
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('ok\n');
      return;
    case '/readyz': {
      const ready = opts.ready();
      res.writeHead(ready ? 200 : 503, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
      });
      const reason = ready ? undefined : opts.notReadyReason?.();
      res.end(ready ? 'ready\n' : `not ready: ${reason ?? 'not connected and subscribed to the broker'}\n`);
      return;
    }
  }
  for (const route of opts.routes ?? []) {
    if (await route(req, res, url)) return;
  }
  sendJson(res, 404, { error: 'not found', path: url.pathname });
}

/**
 * Buffers for expositions, reused between scrapes. A buffer is in use until its response has
 * closed (the socket holds on to the bytes until then), so concurrent scrapes each take one;
 * at most two are kept.
 */
const idleBuffers: ExpositionBuffer[] = [];
const KEPT_BUFFERS = 2;

/**
 * Served uncompressed: gzip measured 16 ms more per scrape at 8,000 devices, more than a loopback
 * or LAN scraper gains from the smaller body (see BENCHMARKS.md).
 */
function serveMetrics(req: IncomingMessage, res: ServerResponse, registry: Registry): void {
  const { format, contentType } = negotiateFormat(req.headers.accept);
  const buffer = idleBuffers.pop() ?? new ExpositionBuffer();
  const release = (): void => {
    buffer.reset();
    if (idleBuffers.length < KEPT_BUFFERS) idleBuffers.push(buffer);
  };
  try {
    registry.renderTo(format, buffer);
  } catch (err) {
    release();
    throw err;
  }
  const body = buffer.bytes();
  res.once('close', release);
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/** Listens, turning a taken or forbidden address into an error that names the option. */
export function listen(server: Server, host: string, port: number, optionName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(
          new TkmpromError(
            ErrorCodes.LISTEN_ADDRESS_IN_USE,
            `${optionName}: ${host}:${port} is already in use; pick another port for ${optionName}`,
          ),
        );
      } else {
        reject(
          new TkmpromError(
            ErrorCodes.LISTEN_FAILED,
            `${optionName}: cannot listen on ${host}:${port}: ${err.message}${err.code === 'EACCES' && port < 1024 ? `; ports below 1024 need privileges: pick a port from 1024 up for ${optionName}` : ''}`,
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
    server.listen(port, host);
  });
}
