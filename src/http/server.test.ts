import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TEXT_CONTENT_TYPE } from '../export/index.js';
import { Registry } from '../export/index.js';
import { silentLogger } from '../log.js';
import { type HttpServer, startHttpServer } from './server.js';

const registry = new Registry();
const requests = registry.counter('tkm_requests_total', 'Requests.', ['symbol']);
// A large exposition, with multi-byte label values all through it.
for (let i = 0; i < 20_000; i++) requests.labels(`${i % 3 === 0 ? '株式' : 'AAPL'}-${i}`).inc(i);
let failCollect = false;
let withheld: string | undefined;
registry.onCollect(() => {
  if (failCollect) throw new Error('collector failed');
});

let http: HttpServer;
before(async () => {
  http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    optionName: '--listen',
    registry,
    ready: () => withheld === undefined,
    notReadyReason: () => withheld,
    metricsWithheld: () => withheld,
    logger: silentLogger(),
  });
});
after(() => http.close());

test('/metrics serves exactly the render, in both formats', async () => {
  for (const [accept, format, type] of [
    ['text/plain', 'text', TEXT_CONTENT_TYPE],
    ['application/openmetrics-text; version=1.0.0', 'openmetrics', OPENMETRICS_CONTENT_TYPE],
  ] as const) {
    const res = await fetch(`${http.url}/metrics`, { headers: { accept } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), type);
    const body = await res.text();
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(body)));
    const expected = registry.render(format);
    assert.ok(expected.length > 600_000, 'the exposition is large');
    assert.equal(body, expected);
  }
});

test('/metrics serves the protobuf render to a scraper that asks for it', async () => {
  const res = await fetch(`${http.url}/metrics`, {
    headers: {
      accept:
        'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;version=0.0.4;q=0.5',
    },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), PROTOBUF_CONTENT_TYPE);
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.headers.get('content-length'), String(body.length));
  assert.deepEqual(body, registry.renderBytes('protobuf'));
});

test('HEAD /metrics answers the head alone', async () => {
  const res = await fetch(`${http.url}/metrics`, { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), TEXT_CONTENT_TYPE);
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(registry.render('text'))));
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

test('a collector that fails makes the scrape a 500, not a partial body', async () => {
  failCollect = true;
  try {
    const res = await fetch(`${http.url}/metrics`);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'internal error' });
  } finally {
    failCollect = false;
  }
  assert.equal((await fetch(`${http.url}/metrics`)).status, 200);
});

test('/metrics answers 503 with the reason while the source withholds it, as /readyz does', async () => {
  withheld = 'reading the backlog of partition 1: at stream sequence 10 of 20';
  try {
    const res = await fetch(`${http.url}/metrics`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(await res.text(), `not ready: ${withheld}\n`);
    const ready = await fetch(`${http.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), `not ready: ${withheld}\n`);
  } finally {
    withheld = undefined;
  }
  assert.equal((await fetch(`${http.url}/metrics`)).status, 200);
});
