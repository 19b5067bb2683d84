import {
  createServer,
  type IncomingMessage,
  type Server as PlainServer,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type ServerOptions as TlsOptions,
} from 'node:https';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Counter, Gauge, Registry } from '../export/index.js';
import { negotiateFormat, Registry as PrivateRegistry } from '../export/index.js';
import type { Logger } from '../log.js';
import { createHttpMetrics, type HttpMetricFamilies } from './metrics.js';
import {
  DEFAULT_HTTP_LIMITS,
  type HttpLimits,
  MAX_URL_BYTES,
  RateLimiter,
  HTTP_REFUSAL_REASONS,
  type HttpRefusalReason,
} from './limits.js';
import { writeBody } from './send.js';
import { SharedRenders } from './shared-render.js';

/** A further route handler; returns false when the path is not its own. */
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => boolean | Promise<boolean>;

/** The server's own series (README "Metrics"), which the exporter's catalogue holds. */
export type HttpMetrics = HttpMetricFamilies;

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
  /** Timeouts and caps; the configuration's defaults when absent. */
  limits?: HttpLimits;
  /** Where the server counts; a registry of its own, not exported, when absent. */
  metrics?: HttpMetrics;
}

type Server = PlainServer | TlsServer;

export interface HttpServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The options Node takes only at creation. Node checks the header and request timeouts every
 * `connectionsCheckingInterval` (30 s by default); once a second keeps them close to their setting.
 */
export function httpServerOptions(limits: HttpLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  };
}

/** What every request of one server shares: its limits, counters and renders. */
interface Context {
  readonly opts: HttpOptions;
  readonly limits: HttpLimits;
  readonly refused: Record<HttpRefusalReason, Counter>;
  readonly slowDropped: Counter;
  readonly renders: SharedRenders;
  readonly rate: RateLimiter;
  /** `/metrics` and API responses in progress. */
  responses: number;
}

export async function startHttpServer(opts: HttpOptions): Promise<HttpServer> {
  const limits = opts.limits ?? DEFAULT_HTTP_LIMITS;
  const metrics = opts.metrics ?? createHttpMetrics(new PrivateRegistry());
  const refused = {} as Record<HttpRefusalReason, Counter>;
  for (const r of HTTP_REFUSAL_REASONS) refused[r] = metrics.httpRefused.labels(r);
  const ctx: Context = {
    opts,
    limits,
    refused,
    slowDropped: metrics.httpSlowDropped.labels(),
    renders: new SharedRenders({
      render: (format, buffer) => opts.registry.renderTo(format, buffer),
      catchUp: opts.catchUp,
    }),
    rate: new RateLimiter(limits.apiRateLimit, limits.apiRateBurst),
    responses: 0,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, ctx).catch((err) => {
      opts.logger.error({ err: (err as Error).message, url: req.url }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const server = opts.tls
    ? createTlsServer({ ...httpServerOptions(limits), ...opts.tls }, onRequest)
    : createServer(httpServerOptions(limits), onRequest);
  limitConnections(server, limits, metrics.httpOpenConnections.labels(), refused.connections);
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

/** The connection cap, the keep-alive idle timeout, and the count of open connections. */
function limitConnections(server: Server, limits: HttpLimits, open: Gauge, refused: Counter): void {
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.idleTimeout;
  // Node closes a connection beyond maxConnections as it is accepted, and says so.
  server.on('drop', () => refused.inc());
  server.on('connection', (socket) => {
    open.inc();
    socket.once('close', () => open.dec());
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const target = req.url ?? '/';
  if (target.length > MAX_URL_BYTES) {
    refuse(ctx, res, 'uri_too_long', 414, {
      error: 'uri too long',
      message: `the request target is ${target.length} bytes; at most ${MAX_URL_BYTES} are served`,
    });
    return;
  }
  const readOnly = req.method === 'GET' || req.method === 'HEAD';
  if (hasBody(req)) {
    // The body is not read: the connection closes after the answer.
    const headers: Record<string, string> = { connection: 'close' };
    if (!readOnly) headers.allow = 'GET, HEAD';
    refuse(
      ctx,
      res,
      'body',
      readOnly ? 413 : 405,
      {
        error: readOnly ? 'content too large' : 'method not allowed',
        message: readOnly
          ? 'a request body is not accepted: only GET and HEAD without a body are served'
          : 'only GET and HEAD are served',
      },
      headers,
    );
    return;
  }
  const url = new URL(target, 'http://localhost');
  const { opts } = ctx;
  if (opts.authorize && !(await opts.authorize(req, res, url))) return;
  if (!readOnly) {
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
      if (!enterResponse(ctx, res)) return;
      return serveMetrics(req, res, ctx);
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
  if (url.pathname.startsWith('/api/')) {
    const wait = ctx.rate.take(req.socket.remoteAddress ?? '');
    if (wait > 0) {
      refuse(
        ctx,
        res,
        'rate_limit',
        429,
        {
          error: 'too many requests',
          message: `at most ${ctx.limits.apiRateLimit} API requests a second (bursts of ${ctx.limits.apiRateBurst}) per client address; retry after ${wait} s`,
        },
        { 'retry-after': String(wait) },
      );
      return;
    }
    if (!enterResponse(ctx, res)) return;
  }
  for (const route of opts.routes ?? []) {
    if (await route(req, res, url)) return;
  }
  sendJson(res, 404, { error: 'not found', path: url.pathname });
}

/** `content-length` above 0 or any `transfer-encoding` (chunked): the request carries a body. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined && length !== '0') return true;
  return req.headers['transfer-encoding'] !== undefined;
}

/** Takes one of the `maxConcurrentResponses` until the response closes, or answers 503. */
function enterResponse(ctx: Context, res: ServerResponse): boolean {
  if (ctx.responses >= ctx.limits.maxConcurrentResponses) {
    refuse(
      ctx,
      res,
      'concurrency',
      503,
      {
        error: 'busy',
        message: `${ctx.limits.maxConcurrentResponses} responses are in progress (http.maxConcurrentResponses); retry after 1 s`,
      },
      { 'retry-after': '1' },
    );
    return false;
  }
  ctx.responses++;
  res.once('close', () => {
    ctx.responses--;
  });
  return true;
}

function refuse(
  ctx: Context,
  res: ServerResponse,
  reason: HttpRefusalReason,
  status: number,
  body: { error: string; message: string },
  headers: Record<string, string> = {},
): void {
  ctx.refused[reason].inc();
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  sendJson(res, status, body);
}

/**
 * Served uncompressed: gzip measured 16 ms more per scrape at 8,000 devices, more than a loopback
 * or LAN scraper gains from the smaller body (see BENCHMARKS.md). Concurrent scrapes share one
 * render (`SharedRenders`), written to each in slices, so a client that does not read holds no
 * buffer of its own; one that has not taken it all within `http.sendTimeout` is dropped.
 */
async function serveMetrics(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const { format, contentType } = negotiateFormat(req.headers.accept);
  const lease = await ctx.renders.acquire(format);
  try {
    res.writeHead(200, {
      'content-type': contentType,
      'content-length': lease.bytes.length,
      'cache-control': 'no-store',
    });
  } catch (err) {
    lease.release();
    throw err;
  }
  if (req.method === 'HEAD') {
    res.end();
    lease.release();
    return;
  }
  writeBody(res, lease.bytes, ctx.limits.sendTimeout, () => ctx.slowDropped.inc(), lease.release);
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
