/**
 * Payload text for every message the simulator sends, built with template strings from parts
 * prepared once per device or symbol: JSON.stringify per message would cost more than the rest of
 * the simulator together.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `05:38PM 26 Jun 2023`, the backend's quote date format (UTC here). */
export function quoteDate(epochMs: number): string {
  const d = new Date(epochMs);
  const h = d.getUTCHours();
  const h12 = h % 12 === 0 ? 12 : h % 12;
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${String(h12).padStart(2, '0')}:${mm}${h < 12 ? 'AM' : 'PM'} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** A JSON string literal (with its quotes) for text that may need escaping. */
export function jsonString(text: string): string {
  return JSON.stringify(text);
}

export function formatPrice(p: number): string {
  return p >= 1 ? p.toFixed(2) : p.toPrecision(4);
}

export function requestPayload(id: string): string {
  return `{"type":"UPDATE","device":"${id}"}`;
}

export function symbolRequestPayload(id: string, symbolJson: string): string {
  return `{"type":"UPDATE","device":"${id}","symbol":${symbolJson}}`;
}

export function bootPayload(id: string): string {
  return `{"type":"BOOT","device":"${id}"}`;
}

export function httpStreamPayload(id: string, stream: string, market: string, symbolJson: string): string {
  return `{"device":"${id}","params":{"getQuoteParams":{"stream":"${stream}","market":"${market}","symbol":${symbolJson}},"configObject":{},"userTimeParams":{}}}`;
}

export function stockErrorPayload(symbolJson: string, stream: string): string {
  return `{"type":"STOCK_ERROR","symbol":${symbolJson},"message":"No quote from ${stream} for ${symbolJson.slice(1, -1)}"}`;
}

export const INVALID_FORMAT_PAYLOAD = '{"type":"INVALID_FORMAT","message":"Could not read the request"}';
export const NO_CONFIG_PAYLOAD = '{"type":"NO_CONFIG"}';

export function deviceRegPayload(code: string): string {
  return `{"type":"DEVICE_REG","code":"${code}"}`;
}

export function pagePayload(updateIntervalS: number, rev: number, color: string, boot: boolean): string {
  const type = boot ? '"type":"NEW",' : '';
  return `{${type}"mode":"page","page":[{"id":1,"ledColor":"${color}","rev":${rev},"blink":false,"alert":false}],"updateInterval":"${updateIntervalS}","ttl":${3000 + (rev % 600)}}`;
}

export function pageErrorPayload(updateIntervalS: number): string {
  return `{"mode":"page","page":[],"updateInterval":"${updateIntervalS}","ttl":0,"error":"page source unavailable"}`;
}

/**
 * Quote reply head, up to and excluding the device-specific tail: `{"type":…,"symbol":…,…,"name":…`.
 */
export function quoteHead(
  type: 'UPDATE' | 'NEW',
  symbolJson: string,
  currencyEsc: string,
  price: number,
  percent: number,
  date: string,
): string {
  const p = formatPrice(price);
  const pct = `${percent >= 0 ? '+' : ''}${percent.toFixed(2)}`;
  return `{"type":"${type}","symbol":${symbolJson},"price":"${currencyEsc}${p}","p":${p},"percent":"1 day ${pct}%","date":"${date}","currency":"${currencyEsc}","name":${symbolJson}`;
}

export function alertPayload(enable: boolean, symbolJson: string, price: number): string {
  if (!enable) return '{"type":"DISABLE"}';
  return `{"type":"ENABLE","symbol":${symbolJson},"above":${formatPrice(price * 1.05)},"below":${formatPrice(price * 0.95)},"color":"green","blink":true}`;
}

export function firmwareUpdatePayload(version: string): string {
  return `{"version":"${version}","url":"https://firmware.example/tickrmeter/${version}.bin"}`;
}
