/** The HTTP server's limits (README "HTTP endpoints"); the `http` section of the configuration. */
export interface HttpLimits {
  /** Connections open at once; beyond, new ones are closed as they arrive. */
  maxConnections: number;
  /** Time a client has to send the request line and headers, ms. */
  headersTimeout: number;
  /** Time a client has to send the whole request, ms. */
  requestTimeout: number;
  /** A keep-alive connection idle this long is closed, ms. */
  idleTimeout: number;
  /** A client that has not taken its whole response within this is dropped, ms. */
  sendTimeout: number;
  /** `/metrics` and API responses in progress at once; beyond, 503. */
  maxConcurrentResponses: number;
  /** API requests per second per client address; 0 turns the limit off. */
  apiRateLimit: number;
  /** API requests a client may make at once before the rate applies. */
  apiRateBurst: number;
}

/** The schema's defaults, for servers started without a configuration (`tkmprom broker`, tests). */
export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  maxConnections: 512,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  idleTimeout: 30_000,
  sendTimeout: 30_000,
  maxConcurrentResponses: 64,
  apiRateLimit: 20,
  apiRateBurst: 40,
};

/** Longest request target served; a longer one answers 414. */
export const MAX_URL_BYTES = 8 * 1024;

/** Why a request or connection was refused: the `reason` label of `tkmprom_http_requests_refused_total`. */
export const HTTP_REFUSAL_REASONS = [
  'connections',
  'concurrency',
  'rate_limit',
  'uri_too_long',
  'body',
] as const;
export type HttpRefusalReason = (typeof HTTP_REFUSAL_REASONS)[number];

/** Client addresses whose buckets are kept; the least recently seen is forgotten beyond this. */
export const RATE_LIMIT_CLIENTS = 10_000;

/**
 * A token bucket: holds at most `burst` tokens, refilled at `rate` a second; each request takes
 * one. Refilled lazily from the time of the last take, so it costs nothing while nobody asks.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes a token: 0 when there was one, else the whole seconds until there will be (at least 1). */
  take(now: number): number {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
      this.at = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.rate));
  }
}

/**
 * One token bucket per client address, at most `maxClients` of them: the least recently seen
 * client is forgotten first (a forgotten client starts again with a full bucket).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  /** Buckets dropped to stay within `maxClients`. */
  evicted = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxClients = RATE_LIMIT_CLIENTS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.rate > 0;
  }

  get clients(): number {
    return this.buckets.size;
  }

  /** 0 when `client` may go on, else the whole seconds it should wait (`Retry-After`). */
  take(client: string): number {
    if (this.rate <= 0) return 0;
    const now = this.now();
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.rate, this.burst, now);
      if (this.buckets.size >= this.maxClients) {
        const oldest = this.buckets.keys().next().value as string;
        this.buckets.delete(oldest);
        this.evicted++;
      }
    } else {
      // Re-inserted, so the map's order is the order of last use.
      this.buckets.delete(client);
    }
    this.buckets.set(client, bucket);
    return bucket.take(now);
  }
}
