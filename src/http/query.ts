import {
  DEVICE_STATUSES,
  type DeviceStatus,
  SYMBOL_SORTS,
  type SymbolSort,
  TREND_VALUES,
} from './schemas.js';

/** A request the API cannot answer as asked; `parameter` names the query parameter or path segment. */
export class BadRequest extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
    this.name = 'BadRequest';
  }
}

export const MAX_LIMIT = 10_000;
export const DEFAULT_LIMIT = 100;

/**
 * Unknown or repeated parameters are refused rather than ignored: a misspelt `limt=5` would
 * otherwise answer quietly with the default.
 */
export function checkParams(params: URLSearchParams, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!allowed.includes(name)) {
      const expected = allowed.length === 0 ? 'this endpoint takes none' : `expected ${allowed.join(', ')}`;
      throw new BadRequest(name, `unknown query parameter "${name}"; ${expected}`);
    }
    if (seen.has(name)) throw new BadRequest(name, `${name}: given more than once`);
    seen.add(name);
  }
}

export function intParam(
  params: URLSearchParams,
  name: string,
  opts: { min: number; max: number; fallback: number },
): number {
  const text = params.get(name);
  if (text === null) return opts.fallback;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= opts.min && n <= opts.max)) {
    throw new BadRequest(
      name,
      `${name}: expected an integer from ${opts.min} to ${opts.max}, got "${clip(text)}"`,
    );
  }
  return n;
}

export function enumParam<T extends string>(
  params: URLSearchParams,
  name: string,
  values: readonly T[],
): T | undefined;
export function enumParam<T extends string>(
  params: URLSearchParams,
  name: string,
  values: readonly T[],
  fallback: T,
): T;
export function enumParam<T extends string>(
  params: URLSearchParams,
  name: string,
  values: readonly T[],
  fallback?: T,
): T | undefined {
  const text = params.get(name);
  if (text === null) return fallback;
  if (!(values as readonly string[]).includes(text)) {
    throw new BadRequest(name, `${name}: expected one of ${values.join(', ')}, got "${clip(text)}"`);
  }
  return text as T;
}

export function nameParam(params: URLSearchParams, name: string): string | undefined {
  const text = params.get(name);
  if (text === null) return undefined;
  if (text.length === 0 || text.length > 256) {
    throw new BadRequest(name, `${name}: expected a name of 1 to 256 characters`);
  }
  return text;
}

export interface SymbolQuery {
  sort: SymbolSort;
  limit: number;
  stream: string | undefined;
  minRequests: number;
}

export function parseSymbolQuery(params: URLSearchParams): SymbolQuery {
  checkParams(params, ['sort', 'limit', 'stream', 'minRequests']);
  return {
    sort: enumParam(params, 'sort', SYMBOL_SORTS, 'score'),
    limit: intParam(params, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT }),
    stream: nameParam(params, 'stream'),
    minRequests: intParam(params, 'minRequests', { min: 0, max: 1e9, fallback: 0 }),
  };
}

export interface DeviceQuery {
  status: DeviceStatus | undefined;
  limit: number;
}

export function parseDeviceQuery(params: URLSearchParams): DeviceQuery {
  checkParams(params, ['status', 'limit']);
  return {
    status: enumParam(params, 'status', DEVICE_STATUSES),
    limit: intParam(params, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT }),
  };
}

export const TREND_FILTERS = TREND_VALUES.filter((t) => t !== 'stable');
export type TrendFilter = (typeof TREND_FILTERS)[number];

export interface TrendQuery {
  limit: number;
  kind: 'stream' | 'symbol' | undefined;
  trend: TrendFilter | undefined;
}

export function parseTrendQuery(params: URLSearchParams): TrendQuery {
  checkParams(params, ['limit', 'kind', 'trend']);
  return {
    limit: intParam(params, 'limit', { min: 1, max: MAX_LIMIT, fallback: DEFAULT_LIMIT }),
    kind: enumParam(params, 'kind', ['stream', 'symbol'] as const),
    trend: enumParam(params, 'trend', TREND_FILTERS),
  };
}

export interface ApiPath {
  /** `stats`, `streams`, `symbols`, `devices`, `trends`, or whatever else was asked for. */
  resource: string;
  /** The decoded name after the resource, undefined for the collection itself. */
  name: string | undefined;
}

/**
 * Splits `/api/v1/<resource>[/<name>]`. The name is everything after the resource, so that a
 * symbol such as `BTC/USD` may be sent encoded (`BTC%2FUSD`) or not.
 */
export function parseApiPath(pathname: string, prefix: string): ApiPath | undefined {
  if (!pathname.startsWith(prefix)) return undefined;
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf('/');
  const resource = slash < 0 ? rest : rest.slice(0, slash);
  const raw = slash < 0 ? '' : rest.slice(slash + 1);
  if (raw === '') return { resource, name: undefined };
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new BadRequest(resource, `${resource}: the name is not valid percent-encoding`);
  }
  return { resource, name };
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
