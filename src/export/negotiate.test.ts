import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentTypeOf, negotiateFormat } from './negotiate.js';

const TEXT = { format: 'text', contentType: 'text/plain; version=0.0.4; charset=utf-8' };
const OM = {
  format: 'openmetrics',
  contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};
const PB = {
  format: 'protobuf',
  contentType: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
};

test("Prometheus 2.42's Accept header with native histograms on gets protobuf", () => {
  assert.deepEqual(
    negotiateFormat(
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    ),
    PB,
  );
});

test('protobuf needs the MetricFamily message and the delimited encoding, and loses to a higher q', () => {
  assert.deepEqual(
    negotiateFormat(
      'Application/Vnd.Google.Protobuf; proto="io.prometheus.client.MetricFamily"; encoding=delimited',
    ),
    PB,
  );
  assert.deepEqual(
    negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily'),
    TEXT,
  );
  assert.deepEqual(
    negotiateFormat('application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text'),
    TEXT,
  );
  assert.deepEqual(
    negotiateFormat('application/vnd.google.protobuf;proto=other.Message;encoding=delimited'),
    TEXT,
  );
  assert.deepEqual(
    negotiateFormat(
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.4,application/openmetrics-text;q=0.5',
    ),
    OM,
  );
  assert.deepEqual(
    negotiateFormat(
      'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0,text/plain',
    ),
    TEXT,
  );
  assert.deepEqual(
    negotiateFormat(
      'text/plain;q=0.5,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5',
    ),
    PB,
  );
});

test("Prometheus 2.x's scrape Accept header gets OpenMetrics", () => {
  assert.deepEqual(
    negotiateFormat(
      'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
    ),
    OM,
  );
});

test("Prometheus 3.x's Accept header, with escaping parameters and text 1.0.0, gets OpenMetrics", () => {
  assert.deepEqual(
    negotiateFormat(
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
    ),
    OM,
  );
});

test('curl, a browser, a missing or empty header and text/plain get text', () => {
  assert.deepEqual(negotiateFormat('*/*'), TEXT);
  assert.deepEqual(negotiateFormat('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), TEXT);
  assert.deepEqual(negotiateFormat(undefined), TEXT);
  assert.deepEqual(negotiateFormat(''), TEXT);
  assert.deepEqual(negotiateFormat('text/plain'), TEXT);
  assert.deepEqual(negotiateFormat('text/plain;version=0.0.4'), TEXT);
  assert.deepEqual(negotiateFormat('application/json'), TEXT);
});

test('OpenMetrics alone, in any case and spacing, gets OpenMetrics', () => {
  assert.deepEqual(negotiateFormat('application/openmetrics-text'), OM);
  assert.deepEqual(negotiateFormat('Application/OpenMetrics-Text; Version="1.0.0"'), OM);
  assert.deepEqual(negotiateFormat('text/plain, application/openmetrics-text'), OM);
});

test('q-values decide, and q=0, bad q-values and unknown versions rule OpenMetrics out', () => {
  assert.deepEqual(negotiateFormat('text/plain;q=0.9,application/openmetrics-text;q=0.5'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;q=0.5,*/*;q=0.6'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;q=0'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;q=abc'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;q=1.5'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;version=2.0.0'), TEXT);
  assert.deepEqual(negotiateFormat('application/openmetrics-text;version=0.0.1'), OM);
});

test('contentTypeOf matches what negotiation returns', () => {
  assert.equal(contentTypeOf('text'), TEXT.contentType);
  assert.equal(contentTypeOf('openmetrics'), OM.contentType);
  assert.equal(contentTypeOf('protobuf'), PB.contentType);
});
