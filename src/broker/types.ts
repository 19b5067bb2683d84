import type { Aedes } from 'aedes';
import { type ErrorCode, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';

export interface BrokerOptions {
  /** Plain MQTT over TCP; port 0 picks a free port. */
  listen?: { host: string; port: number };
  tls?: {
    host: string;
    port: number;
    certFile: string;
    keyFile: string;
    caFile?: string;
    /** Require a client certificate signed by `caFile` (or the system CAs). */
    requestCert?: boolean;
  };
  /** MQTT over WebSocket; without `path` any request path is accepted. */
  websocket?: { host: string; port: number; path?: string };
  /** LevelDB directory for retained messages, sessions and wills; absent keeps them in memory. */
  dataDir?: string;
  passwordFile?: string;
  /** Topic ACL (YAML): per user with passwordFile, else the rules for anonymous clients. */
  aclFile?: string;
  /** Cap on simultaneous connections across all listeners; connections beyond it are refused. */
  maxConnections?: number;
  /** How long a subscriber whose socket stopped draining may hold up delivery before it is dropped. */
  drainTimeoutMs?: number;
  /** Publish the `$SYS/broker/...` topics this often; absent or 0 publishes none. */
  sysIntervalMs?: number;
  logger?: Logger;
}

export type QoS = 0 | 1 | 2;

export const REFUSAL_REASONS = [
  'max_connections',
  'not_authorized',
  'bad_username_or_password',
  'unacceptable_protocol',
  'identifier_rejected',
  'server_unavailable',
  'other',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface BrokerStats {
  /** Clients that completed CONNECT and are still connected. */
  clientsConnected: number;
  /** Every publish routed by the broker (clients, wills, in-process), excluding `$SYS/`. */
  messagesIn: Record<QoS, number>;
  /** Publishes handed to network clients, by the QoS they were sent with. */
  messagesOut: Record<QoS, number>;
  /** Wire bytes, including TLS and WebSocket framing, of closed and live connections. */
  bytesIn: number;
  bytesOut: number;
  retainedCount: number;
  connectionsRefused: Record<RefusalReason, number>;
  /** Publishes dropped because the ACL forbids them. */
  publishesDenied: number;
  /** Subscriptions refused (SUBACK 0x80) because the ACL forbids them. */
  subscriptionsDenied: number;
}

export interface EmbeddedBroker {
  readonly aedes: Aedes;
  addresses(): { mqtt?: string; mqtts?: string; ws?: string };
  subscribeInProcess(
    topics: string[],
    onMessage: (topic: string, payload: Buffer) => void,
  ): Promise<() => Promise<void>>;
  stats(): BrokerStats;
  /** Re-reads the password and ACL files; on error the previous ones stay in force. */
  reloadAuth(): Promise<void>;
  close(): Promise<void>;
}

export type ListenerKind = 'mqtt' | 'mqtts' | 'ws';

/** A listener could not be opened; `listener` says which one, so callers can name their option. */
export class BrokerListenError extends TkmpromError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly listener: ListenerKind,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export const SYS_PREFIX = '$SYS/';

/** Logs at most `limit` lines per minute, so a client hammering a refusal cannot flood the log. */
export function limitedLog(limit: number): (log: () => void) => void {
  let windowStart = 0;
  let count = 0;
  return (log) => {
    const now = Date.now();
    if (now - windowStart >= 60_000) {
      windowStart = now;
      count = 0;
    }
    if (count++ < limit) log();
  };
}
