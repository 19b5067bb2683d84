import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { PAGE_JS } from './client.js';
import { loginHtml, PAGE_CSP, PAGE_HTML } from './html.js';
import { PAGE_CSS } from './style.js';

const sha = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

describe('status page', () => {
  test('the script is valid JavaScript', () => {
    assert.doesNotThrow(() => new Function(PAGE_JS));
  });

  test('the CSP admits exactly the inline script and stylesheet of the page', () => {
    const script = /<script>([\s\S]*)<\/script>/.exec(PAGE_HTML)![1]!;
    const style = /<style>([\s\S]*)<\/style>/.exec(PAGE_HTML)![1]!;
    assert.equal(script, PAGE_JS);
    assert.equal(style, PAGE_CSS);
    assert.match(PAGE_CSP, new RegExp(`script-src ${sha(script).replace(/[+/]/g, '\\$&')}`));
    assert.match(PAGE_CSP, new RegExp(`style-src ${sha(style).replace(/[+/]/g, '\\$&')}`));
    assert.match(PAGE_CSP, /default-src 'none'/);
    assert.match(PAGE_CSP, /connect-src 'self'/);
  });

  test('nothing is loaded from elsewhere; API paths are relative for a proxy prefix', () => {
    for (const html of [PAGE_HTML, loginHtml(false), loginHtml(true)]) {
      assert.doesNotMatch(html, /\bsrc=|rel="stylesheet"|@import|url\(http|<iframe/i);
      const urls = html.match(/https?:\/\/[^\s'"]+/g) ?? [];
      assert.deepEqual(
        [...new Set(urls)].filter((u) => !u.startsWith('http://www.w3.org/2000/svg')),
        [],
      );
      assert.doesNotMatch(html, /style="/, 'inline style attributes would be blocked by the CSP');
    }
    assert.match(PAGE_JS, /get\('api\/v1\/stats'\)/);
    assert.doesNotMatch(PAGE_JS, /['"]\/api\//);
  });

  test('the script writes no markup', () => {
    assert.doesNotMatch(PAGE_JS, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
