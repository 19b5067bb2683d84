import { BOOT_TYPE, CHARGING, NOT_CHARGING, PAGE_MODE, REQUEST_TYPE, ReplyType } from './fields.js';

/**
 * Payload text as the firmware and the backend send it, built with template strings from parts the
 * caller prepares once (a symbol as a JSON literal, a device id): JSON.stringify per message would
 * cost a simulator more than the rest of its work. Arguments named `...Json` are JSON literals,
 * quotes included (see `jsonString`); `...Esc` are escaped text without the quotes.
 */

/** A JSON string literal (with its quotes) for text that may need escaping. */
export function jsonString(text: string): string {
  return JSON.stringify(text);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `05:38PM 26 Jun 2023`, the backend's quote date format (UTC here). */
export function quoteDate(epochMs: number): string {
  const d = new Date(epochMs);
  const h = d.getUTCHours();
  const h12 = h % 12 === 0 ? 12 : h % 12;
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${String(h12).padStart(2, '0')}:${mm}${h < 12 ? 'AM' : 'PM'} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** A quote request; `symbolJson` undefined for the symbol-less one. */
export function requestPayload(deviceId: string, symbolJson?: string): string {
  return symbolJson === undefined
    ? `{"type":"${REQUEST_TYPE}","device":"${deviceId}"}`
    : `{"type":"${REQUEST_TYPE}","device":"${deviceId}","symbol":${symbolJson}}`;
}

/** `TICKRMETERBOOT` from the device, echoed as is on `DEVICE_BOOTED`. */
export function bootPayload(deviceId: string): string {
  return `{"type":"${BOOT_TYPE}","device":"${deviceId}"}`;
}

/** The hand-off of a request to the service that polls an HTTP stream. */
export function httpStreamPayload(
  deviceId: string,
  stream: string,
  market: string,
  symbolJson: string,
  extra: { quoteParams?: string; configObject?: string; userTimeParams?: string } = {},
): string {
  const more = extra.quoteParams === undefined ? '' : `,${extra.quoteParams}`;
  return `{"device":"${deviceId}","params":{"getQuoteParams":{"stream":"${stream}","market":"${market}","symbol":${symbolJson}${more}},"configObject":${extra.configObject ?? '{}'},"userTimeParams":${extra.userTimeParams ?? '{}'}}}`;
}

export const STATUS_POLL_PAYLOAD = '{"action":"status"}';

/** What a heartbeat reports. Absent optional fields are left out, as older firmware does. */
export interface HeartbeatReading {
  deviceId: string;
  /** A JSON literal. */
  firmwareJson: string;
  battery: number;
  uptimeS: number;
  charging: boolean;
  vin?: number | undefined;
  wifiLost?: number | undefined;
  innerVersion?: string | undefined;
  flashCheck?: number | string | undefined;
  flashId?: string | undefined;
}

/** `DEVICESTATUS_RES`: every number as a string, as the firmware sends it. */
export function heartbeatPayload(h: HeartbeatReading): string {
  let s = `{"status":"online","firmware_version":${h.firmwareJson},"device":"${h.deviceId}","battery":"${h.battery}"`;
  if (h.vin !== undefined) s += `,"vin":"${h.vin}"`;
  s += `,"uptime":"${h.uptimeS}","isCharging":"${h.charging ? CHARGING : NOT_CHARGING}"`;
  if (h.wifiLost !== undefined) s += `,"wflct":"${h.wifiLost}"`;
  if (h.innerVersion !== undefined) s += `,"iv":"${h.innerVersion}"`;
  if (h.flashCheck !== undefined) s += `,"xmc":"${h.flashCheck}"`;
  if (h.flashId !== undefined) s += `,"flashID":"${h.flashId}"`;
  return `${s}}`;
}

/**
 * A quote reply's head, up to and excluding the device's tail (`singleTail`, `playlistTail`):
 * `{"type":…,"symbol":…,"price":…,"p":…,"percent":…,"date":…,"currency":…,"name":…`. `price` is
 * the number as text, `percent` its signed change such as `+1.25`.
 */
export function quoteHead(
  type: typeof ReplyType.Update | typeof ReplyType.New,
  symbolJson: string,
  currencyEsc: string,
  price: string,
  percent: string,
  date: string,
  nameJson: string,
): string {
  return `{"type":"${type}","symbol":${symbolJson},"price":"${currencyEsc}${price}","p":${price},"percent":"1 day ${percent}%","date":"${date}","currency":"${currencyEsc}","name":${nameJson}`;
}

/** The tail of a single-ticker device's quote replies: its interval is `interval`. */
export function singleTail(updateIntervalS: number, ledBrightness: number, alertEnabled: boolean): string {
  return `,"interval":${updateIntervalS},"ledBrightness":${ledBrightness},"alertEnabled":${alertEnabled}}`;
}

/**
 * The tail of a playlist device's quote replies, in the two parts around `symbolIndex` so that a
 * reply is `${head}${before}${index}${after}`; its interval is `updateInterval`.
 */
export function playlistTail(
  symbolsCsvJson: string,
  cycleIntervalS: number,
  updateIntervalS: number,
  ledBrightness: number,
  alertEnabled: boolean,
): [before: string, after: string] {
  return [
    `,"isPlaylist":true,"symbols":${symbolsCsvJson},"symbolIndex":`,
    `,"cycleInterval":${cycleIntervalS},"updateInterval":${updateIntervalS},"ledBrightness":${ledBrightness},"alertEnabled":${alertEnabled}}`,
  ];
}

/** A page-mode reply; `boot` marks the one that answers a boot (`type: "NEW"`). */
export function pagePayload(
  updateIntervalS: number,
  rev: number,
  color: string,
  ttl: number,
  boot: boolean,
): string {
  const type = boot ? `"type":"${ReplyType.New}",` : '';
  return `{${type}"mode":"${PAGE_MODE}","page":[{"id":1,"ledColor":"${color}","rev":${rev},"blink":false,"alert":false}],"updateInterval":"${updateIntervalS}","ttl":${ttl}}`;
}

export function pageErrorPayload(updateIntervalS: number, messageJson: string): string {
  return `{"mode":"${PAGE_MODE}","page":[],"updateInterval":"${updateIntervalS}","ttl":0,"error":${messageJson}}`;
}

export function stockErrorPayload(symbolJson: string, messageJson: string): string {
  return `{"type":"${ReplyType.StockError}","symbol":${symbolJson},"message":${messageJson}}`;
}

export const INVALID_FORMAT_PAYLOAD = `{"type":"${ReplyType.InvalidFormat}","message":"Could not read the request"}`;
export const NO_CONFIG_PAYLOAD = `{"type":"${ReplyType.NoConfig}"}`;

export function deviceRegPayload(code: string): string {
  return `{"type":"${ReplyType.DeviceReg}","code":"${code}"}`;
}

/** `ALERT/<deviceId>`: the light bar's price alert, on or off. */
export function alertPayload(enable: boolean, symbolJson?: string, above?: string, below?: string): string {
  if (!enable) return '{"type":"DISABLE"}';
  return `{"type":"ENABLE","symbol":${symbolJson},"above":${above},"below":${below},"color":"green","blink":true}`;
}

/** `FIRMWAREUPDATE/<deviceId>`: an over-the-air update order. */
export function firmwareUpdatePayload(version: string): string {
  return `{"version":"${version}","url":"https://firmware.example/tickrmeter/${version}.bin"}`;
}
