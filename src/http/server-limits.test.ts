import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { Registry } from '../export/index.js';
import { silentLogger } from '../log.js';
import { createHttpMetrics, type HttpMetricFamilies } from './metrics.js';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './limits.js';
import { type HttpServer, type RouteHandler, startHttpServer } from './server.js';

const servers: HttpServer[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => s.close()));
});

interface Started {
  http: HttpServer;
  port: number;
  metrics: HttpMetricFamilies;
  registry: Registry;
  refused(reason: string): number | undefined;
}

async function start(
  limits: Partial<HttpLimits> = {},
  routes: RouteHandler[] = [],
  registry = new Registry(),
): Promise<Started> {
  // Counted apart from the registry served, so that the exposition does not change as they count.
  const metrics = createHttpMetrics(new Registry());
  const http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    optionName: '--listen',
    registry,
    ready: () => true,
    logger: silentLogger(),
    routes,
    limits: { ...DEFAULT_HTTP_LIMITS, ...limits },
    metrics,
  });
  servers.push(http);
  const port = Number(new URL(http.url).port);
  return { http, port, metrics, registry, refused: (r) => metrics.httpRefused.get(r) };
}

/** A route for `/api/...` that answers 200, or holds its response until `release` is called. */
function apiRoute(held: ServerResponse[] = []): RouteHandler {
  return (_req, res, url) => {
    if (!url.pathname.startsWith('/api/')) return false;
    if (url.pathname === '/api/hold') {
      held.push(res);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('held ');
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
    return true;
  };
}

/** A raw connection; `text()` is everything received so far, `closed` resolves when the server closes it. */
async function raw(port: number, { pause = false } = {}) {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let received = '';
  let bytes = 0;
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('error', () => {});
  });
  socket.on('data', (d: Buffer) => {
    bytes += d.length;
    if (received.length < 4096) received += d.toString('latin1');
  });
  if (pause) socket.pause();
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed, text: () => received, bytes: () => bytes };
}

/** One request through node:http, which may send a body with any method. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('refusals', () => {
  test('a request target over 8 KiB answers 414; one of exactly 8 KiB is served', async () => {
    const s = await start();
    const long = await fetch(`${s.http.url}/metrics?pad=${'a'.repeat(8192)}`);
    assert.equal(long.status, 414);
    assert.deepEqual(await long.json(), {
      error: 'uri too long',
      message: 'the request target is 8205 bytes; at most 8192 are served',
    });
    const path = `/metrics?pad=`;
    const exact = await fetch(`${s.http.url}${path}${'a'.repeat(8192 - path.length)}`);
    assert.equal(exact.status, 200);
    await exact.arrayBuffer();
    assert.equal(s.refused('uri_too_long'), 1);
    for (const r of ['connections', 'concurrency', 'rate_limit', 'body']) assert.equal(s.refused(r), 0, r);
  });

  test('a request with a body answers 413 (GET, HEAD) or 405 (any other method) and closes', async () => {
    const s = await start();
    const get = await send(s.port, 'GET', '/metrics', { 'content-length': 3 }, 'abc');
    assert.equal(get.status, 413);
    assert.equal(get.headers.connection, 'close');
    assert.equal(JSON.parse(get.body).error, 'content too large');
    const chunked = await send(s.port, 'GET', '/healthz', { 'transfer-encoding': 'chunked' }, 'abc');
    assert.equal(chunked.status, 413);
    const post = await send(s.port, 'POST', '/metrics', { 'content-type': 'text/plain' }, 'abc');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal(post.headers.connection, 'close');
    assert.equal(s.refused('body'), 3);
    // No body: a wrong method, not a refusal by a limit.
    const bare = await send(s.port, 'DELETE', '/metrics', {});
    assert.equal(bare.status, 405);
    assert.equal(bare.headers.allow, 'GET, HEAD');
    const empty = await send(s.port, 'GET', '/healthz', { 'content-length': 0 });
    assert.equal(empty.status, 200);
    assert.equal(s.refused('body'), 3);
  });

  test('the API is rate-limited per client address: 429 with Retry-After beyond the burst', async () => {
    const s = await start({ apiRateLimit: 0.5, apiRateBurst: 2 }, [apiRoute()]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${s.http.url}/api/v1/stats`)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    const refused = await fetch(`${s.http.url}/api/v1/stats`);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '2');
    const body = (await refused.json()) as { error: string; message: string };
    assert.equal(body.error, 'too many requests');
    assert.match(body.message, /at most 0\.5 API requests a second \(bursts of 2\)/);
    assert.equal(s.refused('rate_limit'), 2);
    // /metrics, health and readiness are not rate-limited.
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${s.http.url}/metrics`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
    assert.equal((await fetch(`${s.http.url}/healthz`)).status, 200);
    assert.equal(s.refused('rate_limit'), 2);
  });

  test('an API rate of 0 turns the limit off', async () => {
    const s = await start({ apiRateLimit: 0, apiRateBurst: 1 }, [apiRoute()]);
    for (let i = 0; i < 50; i++) assert.equal((await fetch(`${s.http.url}/api/v1/stats`)).status, 200);
    assert.equal(s.refused('rate_limit'), 0);
  });

  test('beyond maxConcurrentResponses, /metrics and the API answer 503 with Retry-After; health stays open', async () => {
    const held: ServerResponse[] = [];
    const s = await start({ maxConcurrentResponses: 2, apiRateLimit: 0 }, [apiRoute(held)]);
    const a = await raw(s.port);
    a.socket.write('GET /api/hold HTTP/1.1\r\nHost: x\r\n\r\n');
    const b = await raw(s.port);
    b.socket.write('GET /api/hold HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 2, 5000, 'two responses in progress');
    for (const path of ['/metrics', '/api/v1/stats']) {
      const r = await fetch(`${s.http.url}${path}`);
      assert.equal(r.status, 503, path);
      assert.equal(r.headers.get('retry-after'), '1');
      assert.deepEqual(await r.json(), {
        error: 'busy',
        message: '2 responses are in progress (http.maxConcurrentResponses); retry after 1 s',
      });
    }
    assert.equal((await fetch(`${s.http.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${s.http.url}/readyz`)).status, 200);
    assert.equal(s.refused('concurrency'), 2);
    held[0]!.end('done');
    await until(() => a.text().includes('done'), 5000, 'the held response to end');
    const r = await fetch(`${s.http.url}/metrics`);
    assert.equal(r.status, 200, 'a slot is free again');
    await r.arrayBuffer();
    held[1]!.end('done');
    assert.equal(s.refused('concurrency'), 2);
  });

  test('beyond maxConnections, connections are closed as they arrive and counted', async () => {
    const s = await start({ maxConnections: 2 });
    const a = await raw(s.port);
    const b = await raw(s.port);
    await until(() => s.metrics.httpOpenConnections.get() === 2, 5000, 'two open connections');
    const c = await raw(s.port);
    await c.closed;
    assert.equal(c.text(), '', 'closed without an answer');
    assert.equal(s.refused('connections'), 1);
    assert.equal(s.metrics.httpOpenConnections.get(), 2);
    a.socket.destroy();
    await until(() => s.metrics.httpOpenConnections.get() === 1, 5000, 'the gauge to follow a close');
    const d = await raw(s.port);
    d.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => /^HTTP\/1\.1 200 [\s\S]*ok\n/.test(d.text()), 5000, 'a connection once there is room');
    assert.equal(s.refused('connections'), 1);
    b.socket.destroy();
  });
});

describe('timeouts', () => {
  test('headers not complete within headersTimeout: 408 and the connection closes', async () => {
    const s = await start({ headersTimeout: 200, requestTimeout: 200 });
    const c = await raw(s.port);
    c.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 408 /);
  });

  test('a keep-alive connection idle for idleTimeout is closed', async () => {
    const s = await start({ idleTimeout: 200 });
    const c = await raw(s.port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 200 /);
    assert.match(c.text(), /\r\nKeep-Alive: timeout=0\r\n/, 'the idle timeout, in whole seconds');
  });
});

describe('shared renders and slow clients', () => {
  // About 6 MB: more than loopback's socket buffers take from a client that does not read.
  const registry = new Registry();
  const big = registry.gauge('tkm_big', 'A large exposition.', ['pad']);
  for (let i = 0; i < 2000; i++) big.labels(`${i}-${'x'.repeat(3000)}`).set(i);
  let collects = 0;
  registry.onCollect(() => {
    collects++;
  });

  test('a client that has not taken its response within sendTimeout is dropped and counted; the others get the same bytes', async () => {
    const s = await start({ sendTimeout: 2000 }, [], registry);
    const before = collects;
    const slow = await raw(s.port, { pause: true });
    slow.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => s.metrics.httpOpenConnections.get() === 1, 5000, 'the slow client to connect');
    await sleep(50);
    // A reader while the slow one still holds the render: the same render, not a new one.
    const res = await fetch(`${s.http.url}/metrics`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(collects - before, 1, 'one render for both');
    assert.ok(body.length > 6_000_000, `the exposition is ${body.length} bytes`);
    assert.ok(body.equals(Buffer.from(registry.render('text'))), 'the exposition, exactly');
    await until(() => s.metrics.httpSlowDropped.get() === 1, 10_000, 'the slow client to be dropped');
    slow.socket.resume();
    await slow.closed;
    const head = slow.text().slice(0, slow.text().indexOf('\r\n\r\n') + 4);
    assert.match(head, new RegExp(`content-length: ${body.length}\r\n`, 'i'));
    assert.ok(slow.bytes() < head.length + body.length, 'the slow client got part of the body only');
    assert.equal(s.metrics.httpSlowDropped.get(), 1, 'the fast reader was not dropped');
  });

  test('concurrent scrapes all get the same, complete bytes from one render', async () => {
    const s = await start({}, [], registry);
    const before = collects;
    const bodies = await Promise.all(
      Array.from({ length: 5 }, async () =>
        Buffer.from(await (await fetch(`${s.http.url}/metrics`)).arrayBuffer()),
      ),
    );
    assert.ok(collects - before <= 2, `${collects - before} renders for 5 concurrent scrapes`);
    for (const b of bodies) assert.equal(b.length, bodies[0]!.length);
    assert.equal(s.metrics.httpSlowDropped.get(), 0);
  });
});
