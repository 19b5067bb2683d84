import { ErrorCodes, TkmpromError } from '../errors.js';
import { apiHandler } from './api.js';
import { Auth } from './auth.js';
import { pageHandler } from './page/page.js';
import type { RouteHandler } from './server.js';
import { ApiState, TICK_MS } from './snapshot.js';
import type { ReadModel } from '../view/index.js';

export interface ApiOptions {
  token?: string;
  /** Basic auth of the web configuration is on: it opens the API and the page as the token does. */
  basicAuth?: boolean;
}

/**
 * The JSON API and the status page, beside /metrics, /healthz and /readyz (which stay open), served
 * from the read model (src/view) and nothing else.
 */
export function apiRoutes(view: ReadModel, opts: ApiOptions): RouteHandler[] {
  if (opts.token !== undefined && opts.token.length === 0) {
    throw new TkmpromError(ErrorCodes.CONFIG_INVALID, 'api.tokenFile: the token file is empty');
  }
  const auth = new Auth(opts.token, { basicAuth: opts.basicAuth });
  const state = new ApiState(view);
  keepTicking(state);
  return [apiHandler(state, auth), pageHandler(auth)];
}

/**
 * Takes a snapshot every `TICK_MS` so that the hour of history and the message rate are there when
 * a page first opens. The timer holds the state only weakly: once the server that serves it is gone,
 * the state can be collected and the timer ends itself.
 */
function keepTicking(state: ApiState): void {
  const ref = new WeakRef(state);
  const timer = setInterval(() => {
    const s = ref.deref();
    if (s === undefined) clearInterval(timer);
    else s.current();
  }, TICK_MS);
  timer.unref();
}
