import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DecodedMessage, decodeMessage } from '../decode/index.js';
import { classifyReplyPayload } from '../sim/index.js';
import { isPageError, ReplyKind, replyKindOf } from './index.js';

const D = 'AABBCCDDEEFF';
const CLASS_NAME = ['quote', 'error', 'nonquote'] as const;

/** [payload, class, type label, page] as docs/correlation.md's table of the `error` field says. */
const CASES: [string, 'quote' | 'error' | 'nonquote', string, boolean][] = [
  ['{"mode":"page","page":[]}', 'quote', 'PAGE', true],
  ['{"mode":"page","error":false}', 'quote', 'PAGE', true],
  ['{"mode":"page","error":""}', 'quote', 'PAGE', true],
  ['{"mode":"page","error":null}', 'quote', 'PAGE', true],
  ['{"mode":"page","error":0}', 'quote', 'PAGE', true],
  ['{"mode":"page","error":true}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":"page source unavailable"}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":"false"}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":" "}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":1}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":{}}', 'error', 'PAGE_ERROR', true],
  ['{"mode":"page","error":[]}', 'error', 'PAGE_ERROR', true],
  ['{"type":"NEW","mode":"page","error":false}', 'quote', 'NEW', true],
  ['{"type":"NEW","mode":"page","error":"down"}', 'error', 'PAGE_ERROR', true],
  // Only page-mode replies have an error field that counts; elsewhere the type decides.
  ['{"type":"UPDATE","symbol":"AAPL","error":"stale"}', 'quote', 'UPDATE', false],
  ['{"type":"NEW","symbol":"AAPL","error":true}', 'quote', 'NEW', false],
  ['{"type":"STOCK_ERROR","symbol":"AAPL","error":false}', 'error', 'STOCK_ERROR', false],
  ['{"type":"NO_CONFIG","error":true}', 'nonquote', 'NO_CONFIG', false],
  ['{"type":"UPDATE","mode":"page","symbol":"AAPL","error":"x"}', 'quote', 'UPDATE', false],
  ['{"type":"STOCK_ERROR","mode":"page"}', 'error', 'STOCK_ERROR', false],
  ['{"mode":"PAGE","error":"x"}', 'nonquote', 'OTHER', false],
  ['{"error":"x"}', 'nonquote', 'OTHER', false],
];

describe('the error field of replies', () => {
  test('isPageError: only false, null, "", 0 and absence are not errors', () => {
    const no: unknown[] = [undefined, null, false, '', 0, -0];
    const yes: unknown[] = [true, 'x', 'false', '0', ' ', 1, -1, {}, []];
    assert.deepEqual(
      no.map((v) => isPageError(v)),
      no.map(() => false),
    );
    assert.deepEqual(
      yes.map((v) => isPageError(v)),
      yes.map(() => true),
    );
    assert.equal(replyKindOf(undefined, 'page', false, false), ReplyKind.Page);
    assert.equal(replyKindOf('NEW', 'page', 'x', false), ReplyKind.PageError);
  });

  for (const parseOnly of [false, true]) {
    test(`the decoder follows the table (${parseOnly ? 'JSON.parse' : 'scanner'} path)`, () => {
      const out = new DecodedMessage();
      for (const [payload, cls, type, page] of CASES) {
        assert.equal(decodeMessage(D, Buffer.from(payload), out, { maxPayloadBytes: 4096, parseOnly }), true);
        assert.deepEqual([CLASS_NAME[out.replyClass], out.replyType, out.isPage], [cls, type, page], payload);
      }
    });
  }

  test("the simulator's truth follows the table", () => {
    for (const [payload, cls, type, page] of CASES) {
      const r = classifyReplyPayload(payload);
      assert.ok(r, payload);
      assert.deepEqual([r.cls, r.type, r.page], [cls, type, page], payload);
    }
  });
});
