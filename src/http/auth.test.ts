import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { Auth, COOKIE_NAME, readCookie } from './auth.js';

const req = (headers: Record<string, string>) => ({ headers, socket: {} }) as unknown as IncomingMessage;

describe('API token', () => {
  test('without a token everything is allowed', () => {
    const a = new Auth(undefined);
    assert.equal(a.enabled, false);
    assert.equal(a.allows(req({})), true);
  });

  test('a bearer token, case-insensitive scheme, exact token', () => {
    const a = new Auth('s3cret');
    assert.equal(a.allows(req({})), false);
    assert.equal(a.allows(req({ authorization: 'Bearer s3cret' })), true);
    assert.equal(a.allows(req({ authorization: 'bearer  s3cret ' })), true);
    assert.equal(a.allows(req({ authorization: 'Bearer s3cre' })), false);
    assert.equal(a.allows(req({ authorization: 'Bearer s3cret2' })), false);
    assert.equal(a.allows(req({ authorization: 'Basic czNjcmV0Og==' })), false);
    assert.equal(a.allows(req({ authorization: 'Bearer' })), false);
  });

  test('the cookie holds a MAC of the token, not the token', () => {
    const a = new Auth('s3cret');
    const set = a.setCookieHeader(req({}));
    assert.match(
      set,
      new RegExp(`^${COOKIE_NAME}=[A-Za-z0-9_-]{43}; Max-Age=2592000; HttpOnly; SameSite=Strict$`),
    );
    const value = set.slice(COOKIE_NAME.length + 1, set.indexOf(';'));
    assert.doesNotMatch(value, /s3cret/);
    assert.equal(a.allows(req({ cookie: `other=1; ${COOKIE_NAME}=${value}` })), true);
    assert.equal(a.allows(req({ cookie: `${COOKIE_NAME}=s3cret` })), false);
    assert.equal(
      new Auth('other').allows(req({ cookie: `${COOKIE_NAME}=${value}` })),
      false,
      'a new token voids old cookies',
    );
    assert.match(a.setCookieHeader(req({ 'x-forwarded-proto': 'https' })), /; Secure$/);
  });

  test('cookie header parsing', () => {
    assert.equal(readCookie('a=1; b = 2 ;c=3=4', 'b'), '2');
    assert.equal(readCookie('a=1; c=3=4', 'c'), '3=4');
    assert.equal(readCookie('a=1', 'b'), undefined);
    assert.equal(readCookie(undefined, 'b'), undefined);
  });
});
