import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDeviceId } from '../protocol/index.js';
import type { Auth } from './auth.js';
import { openApiDocument } from './openapi.js';
import {
  BadRequest,
  checkParams,
  parseApiPath,
  parseDeviceQuery,
  parseSymbolQuery,
  parseTrendQuery,
} from './query.js';
import type { ErrorJson } from './schemas.js';
import { type ApiState, deviceDetail } from './snapshot.js';

export const API_PREFIX = '/api/v1/';
export const OPENAPI_PATH = '/api/openapi.json';

/** Serialised once per object: the snapshot's answers are shared by every caller of one second. */
const texts = new WeakMap<object, string>();

function toText(body: object): string {
  let text = texts.get(body);
  if (text === undefined) {
    text = JSON.stringify(body);
    texts.set(body, text);
  }
  return text;
}

export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  status: number,
  body: ErrorJson,
  headers: Record<string, string> = {},
): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

function notFound(res: ServerResponse, message: string): true {
  sendError(res, 404, { error: 'not found', message });
  return true;
}

/** `/api/openapi.json` and everything under `/api/v1/`. */
export function apiHandler(state: ApiState, auth: Auth) {
  let openApiText: string | undefined;
  return (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const path = url.pathname;
    // Open, as it holds no data; but with basic auth on, every path but the probes needs credentials.
    if (path === OPENAPI_PATH && (!auth.basicAuth || auth.allows(req))) {
      openApiText ??= JSON.stringify(openApiDocument());
      sendJsonText(res, 200, openApiText, { 'cache-control': 'max-age=300' });
      return true;
    }
    if (path !== '/api' && !path.startsWith('/api/')) return false;
    if (!auth.allows(req)) {
      sendError(
        res,
        401,
        {
          error: 'unauthorized',
          message: auth.basicAuth
            ? 'send the API token as Authorization: Bearer <token>, or a user name and password of the web configuration (HTTP basic auth)'
            : 'send the API token as Authorization: Bearer <token>',
        },
        { 'www-authenticate': auth.challenge },
      );
      return true;
    }
    try {
      return route(state, res, url);
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      sendError(res, 400, { error: 'bad request', message: err.message, parameter: err.parameter });
      return true;
    }
  };
}

function route(state: ApiState, res: ServerResponse, url: URL): boolean {
  const p = parseApiPath(url.pathname, API_PREFIX);
  if (p === undefined)
    return notFound(res, `no such endpoint ${url.pathname}; the API is under ${API_PREFIX}`);
  const params = url.searchParams;
  const send = (body: object) => sendJsonText(res, 200, toText(body));
  switch (p.resource) {
    case 'stats':
      if (p.name !== undefined) break;
      checkParams(params, []);
      send(state.current().stats);
      return true;
    case 'streams': {
      checkParams(params, []);
      const snap = state.current();
      if (p.name === undefined) {
        send(snap.streams);
        return true;
      }
      const j = snap.stream(p.name);
      if (j === undefined) return notFound(res, `no stream named "${p.name}"`);
      send(j);
      return true;
    }
    case 'symbols': {
      if (p.name === undefined) {
        const q = parseSymbolQuery(params);
        send(state.current().symbols(q));
        return true;
      }
      checkParams(params, []);
      const j = state.current().symbolDetail(p.name);
      if (j === undefined) return notFound(res, `no symbol named "${p.name}"`);
      send(j);
      return true;
    }
    case 'devices': {
      if (p.name === undefined) {
        const q = parseDeviceQuery(params);
        send(state.current().devices(q));
        return true;
      }
      checkParams(params, []);
      const id = p.name.toUpperCase();
      const j = isDeviceId(id) ? deviceDetail(state.view, id) : undefined;
      if (j === undefined) {
        return notFound(
          res,
          isDeviceId(id) ? `no device ${id} heard` : `no device "${p.name}": ids are 12 hex digits`,
        );
      }
      send(j);
      return true;
    }
    case 'trends':
      if (p.name !== undefined) break;
      send(state.current().trends(parseTrendQuery(params)));
      return true;
  }
  return notFound(res, `no such endpoint ${url.pathname}`);
}
