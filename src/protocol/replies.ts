import { PAGE_MODE, ReplyType } from './fields.js';

/** How a reply counts: see the reply-class table in docs/correlation.md. */
export enum ReplyClass {
  Quote,
  Error,
  NonQuote,
}

/** The reply `type`s the protocol knows, and how each counts. */
export const REPLY_TYPE_CLASS: ReadonlyMap<string, ReplyClass> = new Map([
  [ReplyType.Update, ReplyClass.Quote],
  [ReplyType.New, ReplyClass.Quote],
  [ReplyType.StockError, ReplyClass.Error],
  [ReplyType.InvalidFormat, ReplyClass.Error],
  [ReplyType.NoConfig, ReplyClass.NonQuote],
  [ReplyType.DeviceReg, ReplyClass.NonQuote],
  [ReplyType.DeviceRegFailure, ReplyClass.NonQuote],
  [ReplyType.RegSuccessful, ReplyClass.NonQuote],
  [ReplyType.DeviceAssigned, ReplyClass.NonQuote],
  [ReplyType.DeviceUnassigned, ReplyClass.NonQuote],
  [ReplyType.Success, ReplyClass.NonQuote],
]);

/** Which row of the reply-class table a reply falls in. */
export enum ReplyKind {
  /** `UPDATE` or `NEW` with a symbol. */
  Quote,
  /** `mode: "page"` with no `type` or `type: "NEW"`, and no error. */
  Page,
  /** The same with an error. */
  PageError,
  /** `STOCK_ERROR`, `INVALID_FORMAT`. */
  Error,
  /** The registration flow and `NO_CONFIG`. */
  NonQuote,
  /** Any other type, or none, or `UPDATE`/`NEW` without symbol or page mode. */
  Other,
}

export const REPLY_KIND_CLASS: readonly ReplyClass[] = [
  ReplyClass.Quote,
  ReplyClass.Quote,
  ReplyClass.Error,
  ReplyClass.Error,
  ReplyClass.NonQuote,
  ReplyClass.NonQuote,
];

/** The `type` label of page-mode replies without a type, of page errors, and of unknown replies. */
export const PAGE_LABEL = 'PAGE';
export const PAGE_ERROR_LABEL = 'PAGE_ERROR';
export const OTHER_LABEL = 'OTHER';

/**
 * Whether a page-mode reply's `error` field reports an error. Absent, `null`, `false`, `""` and `0`
 * do not (backends write `"error": false` or `""` on success); `true`, any other string or number,
 * and any object or array do. The field means nothing on replies that are not in page mode.
 */
export function isPageError(error: unknown): boolean {
  return error !== undefined && error !== null && error !== false && error !== '' && error !== 0;
}

/** A reply's row of the table, from its `type` (a string or absent), `mode`, `error` and symbol. */
export function replyKindOf(
  type: string | undefined,
  mode: unknown,
  error: unknown,
  hasSymbol: boolean,
): ReplyKind {
  if (mode === PAGE_MODE && (type === undefined || type === ReplyType.New)) {
    return isPageError(error) ? ReplyKind.PageError : ReplyKind.Page;
  }
  if (type === undefined) return ReplyKind.Other;
  switch (REPLY_TYPE_CLASS.get(type)) {
    case ReplyClass.Quote:
      return hasSymbol ? ReplyKind.Quote : ReplyKind.Other;
    case ReplyClass.Error:
      return ReplyKind.Error;
    case ReplyClass.NonQuote:
      return ReplyKind.NonQuote;
    default:
      return ReplyKind.Other;
  }
}

/** The `type` label a reply of this kind is counted under; `type` is the reply's own. */
export function replyLabelOf(kind: ReplyKind, type: string | undefined): string {
  switch (kind) {
    case ReplyKind.Page:
      return type ?? PAGE_LABEL;
    case ReplyKind.PageError:
      return PAGE_ERROR_LABEL;
    case ReplyKind.Other:
      return OTHER_LABEL;
    default:
      return type!;
  }
}

/** Symbols are short tickers or pairs; anything longer or with control characters is garbage. */
export const MAX_SYMBOL_LENGTH = 32;

/**
 * A `symbol` field as the protocol means it: undefined when absent, null or empty (the firmware
 * means the same by all three), false when it is not a usable symbol.
 */
export function readSymbol(v: unknown): string | undefined | false {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > MAX_SYMBOL_LENGTH) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return v;
}
