import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../config/index.js';
import { Exporter } from '../exporter.js';
import { silentLogger } from '../log.js';
import { openApiDocument } from './openapi.js';
import { checkSchema } from '../../test/helpers/schema-check.js';
import { ApiState, deviceDetail } from './snapshot.js';

interface Operation {
  operationId: string;
  parameters?: { in: string; name: string; required?: boolean }[];
}
const doc = openApiDocument() as {
  openapi: string;
  paths: Record<string, { get: Operation }>;
  components: { schemas: Record<string, unknown> };
};

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refs(n, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref') out.push(v as string);
      else refs(v, out);
    }
  }
  return out;
}

describe('OpenAPI document', () => {
  test('3.1, every $ref resolves, operation ids unique, path parameters declared', () => {
    assert.equal(doc.openapi, '3.1.0');
    for (const r of refs(doc)) {
      const id = r.replace('#/components/schemas/', '');
      assert.ok(doc.components.schemas[id], `${r} resolves`);
    }
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      const op = item.get;
      assert.ok(op.operationId && !ids.has(op.operationId), `${path}: unique operationId`);
      ids.add(op.operationId);
      for (const m of path.matchAll(/\{(\w+)\}/g)) {
        assert.ok(
          op.parameters?.some((p) => p.in === 'path' && p.name === m[1] && p.required === true),
          `${path}: {${m[1]}} declared`,
        );
      }
    }
  });

  test('no $schema, fragment $id or safe-integer bounds left in', () => {
    const text = JSON.stringify(doc);
    assert.doesNotMatch(text, /"\$schema"|"\$id"|9007199254740991/);
  });

  test('the schemas describe what the snapshot produces, field for field', () => {
    let t = 1000;
    const config = loadConfig({ flags: { 'request-timeout': '1s' } });
    const e = new Exporter({ config, logger: silentLogger(), clock: () => t, processMetrics: false });
    const send = (topic: string, p: object) => e.handle(topic, Buffer.from(JSON.stringify(p)));
    send('DEVICESTATUS_RES', {
      status: 'online',
      firmware_version: '45p',
      device: 'AAAAAAAAAA01',
      battery: '7',
    });
    send('STOCKPRICEUPDATE', { type: 'UPDATE', device: 'AAAAAAAAAA01', symbol: 'AAPL' });
    t += 100;
    send('AAAAAAAAAA01', { type: 'UPDATE', symbol: 'AAPL' });
    send('STOCKPRICEUPDATE', { type: 'UPDATE', device: 'AAAAAAAAAA01', symbol: 'XYZ' });
    send('AAAAAAAAAA01', { type: 'STOCK_ERROR', symbol: 'XYZ' });
    send('STOCKPRICEUPDATE', { type: 'UPDATE', device: 'AAAAAAAAAA01', symbol: 'TSLA' });
    t += 2000;
    e.sweep();
    const snap = new ApiState(e.view).current();
    const bodies: [string, unknown][] = [
      ['Stats', snap.stats],
      ['StreamList', snap.streams],
      ['StreamDetail', snap.stream('unmapped')],
      ['SymbolList', snap.symbols({ sort: 'score', limit: 100, stream: undefined, minRequests: 0 })],
      ['SymbolDetail', snap.symbolDetail('XYZ')],
      ['DeviceList', snap.devices({ status: undefined, limit: 10 })],
      ['DeviceDetail', deviceDetail(e.view, 'AAAAAAAAAA01')],
      ['TrendList', snap.trends({ limit: 10, kind: undefined, trend: undefined })],
      ['Error', { error: 'not found', message: 'x' }],
    ];
    for (const [id, body] of bodies) {
      const problems = checkSchema(
        JSON.parse(JSON.stringify(body)),
        { $ref: `#/components/schemas/${id}` },
        {
          root: doc,
          closedObjects: true,
        },
      );
      assert.deepEqual(problems, [], id);
    }
  });
});
