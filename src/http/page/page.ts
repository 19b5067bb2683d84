import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Auth, BASIC_REALM } from '../auth.js';
import { loginHtml, PAGE_CSP, PAGE_HTML } from './html.js';

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * `GET /`. With a token configured, `?token=` is taken once: a right token is answered with the
 * cookie and a redirect that drops it from the address bar and the history; otherwise a form asks.
 */
export function pageHandler(auth: Auth) {
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (url.pathname !== '/') return false;
    if (auth.enabled) {
      const token = url.searchParams.get('token');
      if (token !== null) {
        if (auth.tokenMatches(token)) {
          res.writeHead(303, {
            location: './',
            'set-cookie': auth.setCookieHeader(req),
            'cache-control': 'no-store',
          });
          res.end();
        } else {
          res.writeHead(401, auth.basicAuth ? { ...HEADERS, 'www-authenticate': BASIC_REALM } : HEADERS);
          res.end(loginHtml(true));
        }
        return true;
      }
      if (!auth.allows(req)) {
        // With basic auth on too, a browser asks for a user name and password; cancelled, it shows the form.
        res.writeHead(401, auth.basicAuth ? { ...HEADERS, 'www-authenticate': BASIC_REALM } : HEADERS);
        res.end(loginHtml(false));
        return true;
      }
    }
    res.writeHead(200, HEADERS);
    res.end(PAGE_HTML);
    return true;
  };
}
