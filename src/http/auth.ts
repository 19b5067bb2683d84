import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_NAME = 'tkmprom_session';
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;
export const BASIC_REALM = 'Basic realm="tkmprom"';
const BEARER_REALM = 'Bearer realm="tkmprom"';

/** Requests whose basic auth credentials (the web configuration's users) were verified. */
const authenticated = new WeakSet<IncomingMessage>();

/** Called once a request's basic auth credentials are verified: the token's doors open to it too. */
export function markAuthenticated(req: IncomingMessage): void {
  authenticated.add(req);
}

/**
 * The optional bearer token of the API and the status page. The page's cookie holds an HMAC of the
 * token, not the token: it opens the same doors, but a leaked cookie does not reveal a token that
 * may be used elsewhere, and changing the token invalidates every cookie. With basic auth on as well
 * (`basic_auth_users` of the web configuration), either opens the API and the page.
 */
export class Auth {
  private readonly tokenDigest: Buffer | undefined;
  private readonly cookie: Buffer | undefined;

  /** Basic auth is on too: challenges name it, and a verified request is let in. */
  readonly basicAuth: boolean;

  constructor(token: string | undefined, opts: { basicAuth?: boolean } = {}) {
    this.basicAuth = opts.basicAuth === true;
    if (token === undefined) return;
    this.tokenDigest = digest(token);
    this.cookie = Buffer.from(createHmac('sha256', token).update('tkmprom status page').digest('base64url'));
  }

  get enabled(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** Comparing digests keeps the comparison constant-time whatever the lengths. */
  tokenMatches(candidate: string): boolean {
    if (this.tokenDigest === undefined) return true;
    return timingSafeEqual(digest(candidate), this.tokenDigest);
  }

  /** `WWW-Authenticate` of a 401 from the API. */
  get challenge(): string {
    return this.basicAuth ? `${BASIC_REALM}, ${BEARER_REALM}` : BEARER_REALM;
  }

  /** A bearer token in `Authorization`, the page's cookie, or verified basic auth credentials. */
  allows(req: IncomingMessage): boolean {
    if (authenticated.has(req)) return true;
    if (this.tokenDigest === undefined) return !this.basicAuth;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (m !== null && this.tokenMatches(m[1]!)) return true;
    }
    const value = readCookie(req.headers.cookie, COOKIE_NAME);
    return value !== undefined && this.cookieMatches(value);
  }

  /**
   * No Path attribute: the cookie then covers the directory the page was served from, which is
   * what a reverse proxy mounting the exporter under a prefix needs.
   */
  setCookieHeader(req: IncomingMessage): string {
    const secure = req.headers['x-forwarded-proto'] === 'https' || isTls(req) ? '; Secure' : '';
    return `${COOKIE_NAME}=${this.cookie!.toString()}; Max-Age=${COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict${secure}`;
  }

  private cookieMatches(value: string): boolean {
    const c = this.cookie!;
    const v = Buffer.from(value);
    return v.length === c.length && timingSafeEqual(v, c);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function isTls(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
