import type { Trend } from '../view/index.js';
import type { SymbolSort } from './schemas.js';

/** What the orders below read of a symbol or stream (the read model's views satisfy it). */
export interface Rankable {
  readonly name: string;
  readonly score: number;
  /** Down rather than slow (`isDown` of the stats): listed before every slow key. */
  readonly down: boolean;
  readonly trend: Trend;
  /** Over the window. */
  readonly window: { readonly requests: number; readonly timeouts: number };
  /** Since start. */
  readonly totals: { readonly requests: number; readonly timeouts: number };
}

/** NaN sorts after every number, whichever the direction. */
function desc(a: number, b: number): number {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  return b - a;
}

function byName(a: Rankable, b: Rankable): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Orders of `/api/v1/symbols`, on the window figures (what is happening now), then the totals,
 * then the name, so equal keys always come out in the same order. `score` puts the down keys
 * first (they have no score: they answer nothing), then the slow ones by score, and breaks ties
 * as the exporter's ranking does (more window requests first).
 */
export const SYMBOL_ORDERS: Record<SymbolSort, (a: Rankable, b: Rankable) => number> = {
  score: (a, b) =>
    Number(b.down) - Number(a.down) ||
    desc(a.score, b.score) ||
    b.window.requests - a.window.requests ||
    byName(a, b),
  requests: (a, b) =>
    b.window.requests - a.window.requests || b.totals.requests - a.totals.requests || byName(a, b),
  timeouts: (a, b) =>
    b.window.timeouts - a.window.timeouts || b.totals.timeouts - a.totals.timeouts || byName(a, b),
  name: byName,
};

const TREND_RANK: Record<Trend, number> = { degrading: 0, unknown: 1, improving: 2, stable: 3 };

/** `/api/v1/trends`: degrading, then unknown, then improving; within each, down first, then highest score. */
export function trendOrder(a: Rankable, b: Rankable): number {
  return TREND_RANK[a.trend] - TREND_RANK[b.trend] || SYMBOL_ORDERS.score(a, b);
}

/**
 * The `n` items with the largest `key`, sorted by key (largest first) then `tie`. O(items) on
 * average whatever the input order: a quickselect on the keys finds the n-th largest, and only the
 * items at or above it are sorted. (A bounded heap degrades to O(items x log n) when items come in
 * ascending order, which is how a fleet first heard in one sweep is stored.)
 */
export function largestBy<T>(
  items: readonly T[],
  n: number,
  key: (item: T) => number,
  tie: (a: T, b: T) => number,
): T[] {
  if (n <= 0) return [];
  const order = (a: T, b: T) => key(b) - key(a) || tie(a, b);
  if (items.length <= n) return [...items].sort(order);
  const keys = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) keys[i] = key(items[i]!);
  const threshold = kthLargest(keys, n);
  const picked: T[] = [];
  for (const item of items) if (key(item) >= threshold) picked.push(item);
  picked.sort(order);
  if (picked.length > n) picked.length = n;
  return picked;
}

/** The k-th largest value (k from 1) of `a`, which it reorders: Hoare partitions, median-of-three pivots. */
export function kthLargest(a: Float64Array, k: number): number {
  const target = k - 1;
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi]!;
    // The median of the three.
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // Now a[lo..j] >= pivot >= a[i..hi], and anything between equals the pivot.
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
