/**
 * The top-level payload fields the exporter reads, in one fixed order: the decoder's scanner indexes
 * its key tables by this order, and the decoder reads payloads through `PayloadFields`, so a field
 * name that is not listed here does not compile.
 */
export const FIELDS = [
  'type',
  'device',
  'symbol',
  'mode',
  'error',
  'interval',
  'updateInterval',
  'firmware_version',
  'iv',
  'flashID',
  'battery',
  'vin',
  'uptime',
  'wflct',
  'xmc',
  'isCharging',
] as const;
export type FieldName = (typeof FIELDS)[number];

/** The fields each kind of message is read by. */
export const REQUEST_FIELDS: readonly FieldName[] = ['type', 'device', 'symbol'];
export const REPLY_FIELDS: readonly FieldName[] = [
  'type',
  'symbol',
  'mode',
  'error',
  'interval',
  'updateInterval',
];
export const HEARTBEAT_FIELDS: readonly FieldName[] = [
  'device',
  'firmware_version',
  'iv',
  'flashID',
  'battery',
  'vin',
  'uptime',
  'wflct',
  'xmc',
  'isCharging',
];
/** `TICKRMETERBOOT` and `DEVICE_BOOTED`. */
export const DEVICE_FIELDS: readonly FieldName[] = ['device'];

/** A payload as the decoder sees it; `params` holds HTTPSTREAMSTOCKS' nested request. */
export type PayloadFields = { readonly [K in FieldName]?: unknown } & { readonly params?: unknown };
/** `params` of an HTTPSTREAMSTOCKS payload. */
export interface HttpStreamParams {
  readonly getQuoteParams?: unknown;
}
/** `params.getQuoteParams` of an HTTPSTREAMSTOCKS payload: `stream` serves `symbol`. */
export interface QuoteParams {
  readonly stream?: unknown;
  readonly market?: unknown;
  readonly symbol?: unknown;
}

/** `type` of every request, and of boot messages. */
export const REQUEST_TYPE = 'UPDATE';
export const BOOT_TYPE = 'BOOT';
/** `mode` of a page-mode reply. */
export const PAGE_MODE = 'page';
/** `isCharging` as the firmware sends it. */
export const CHARGING = '1';
export const NOT_CHARGING = '0';

/** Reply `type` values. */
export const ReplyType = {
  Update: 'UPDATE',
  New: 'NEW',
  StockError: 'STOCK_ERROR',
  InvalidFormat: 'INVALID_FORMAT',
  NoConfig: 'NO_CONFIG',
  DeviceReg: 'DEVICE_REG',
  DeviceRegFailure: 'DEVICE_REG_FAILURE',
  RegSuccessful: 'REG_SUCCESSFUL',
  DeviceAssigned: 'DEVICE_ASSIGNED',
  DeviceUnassigned: 'DEVICE_UNASSIGNED',
  Success: 'SUCCESS',
} as const;
export type ReplyTypeName = (typeof ReplyType)[keyof typeof ReplyType];
