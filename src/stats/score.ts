import type { WindowSnapshot } from './window.js';

export interface HealthObjectives {
  /** Share of quote requests that must be answered with a quote, default 0.99. */
  responseRate: number;
  /** p95 latency objective in seconds, default 2. */
  p95Seconds: number;
}

export const DEFAULT_HEALTH_OBJECTIVES: Readonly<HealthObjectives> = Object.freeze({
  responseRate: 0.99,
  p95Seconds: 2,
});

/**
 * How slow a key is, in seconds: the p95 latency of its answered quotes plus the share of its quote
 * outcomes that failed (timeouts and errors) times the request timeout `T`, the wait a failure costs
 * the owner:
 *
 *   score = p95 + (timeouts + errors) / (responses + timeouts + errors) * T
 *
 * Non-quote answers (NO_CONFIG, ...) say nothing about the quote service and are left out. NaN
 * without a single answered quote: a key that answers nothing is down, not slow, and shows in its
 * timeouts, response rate and health instead of crowding the slow ones out of the ranking.
 * Higher is worse.
 *
 * Example: 1 response with p95 0.31 s and 1 timeout, T = 10 s: 0.31 + 0.5 * 10 = 5.31 s.
 */
export function rankingScore(s: WindowSnapshot, timeoutSeconds: number): number {
  if (s.responses === 0) return Number.NaN;
  const failures = s.timeouts + s.errors;
  return s.p95LatencySeconds + (failures / (s.responses + failures)) * timeoutSeconds;
}

/**
 * Whether a key is down rather than slow: its window holds at least `minRequests` requests (the
 * ranking's minimum, `stats.rankingMinRequests`), not one answered quote, and at least one failed
 * quote outcome (a timeout or an error). A key that only got non-quote answers (NO_CONFIG, ...)
 * says nothing about the quote service and is neither down nor slow. A down key has no ranking
 * score (NaN) and health 0; the lists shown to people put it before the slow ones.
 *
 * Example, minimum 10: 12 timeouts and nothing else is down; 9 timeouts is too few to tell; 11
 * timeouts and 1 response is slow (score p95 + 11/12 x T), not down.
 */
export function isDown(s: WindowSnapshot, minRequests: number): boolean {
  return s.requests >= minRequests && s.responses === 0 && s.timeouts + s.errors > 0;
}

/**
 * Health from 0 to 100, rounded to one decimal, NaN when there was no quote outcome (responses,
 * errors or timeouts) in the window:
 *
 *   successRate = responses / (responses + errors + timeouts)
 *   A  = clamp((successRate - 0.5) / (objective.responseRate - 0.5), 0, 1)
 *   L  = 1                        when p95 <= objective.p95Seconds
 *        objective.p95Seconds / p95  otherwise (2x the objective gives 0.5, 4x gives 0.25)
 *   health = round(100 * A * L, 1 decimal)
 *
 * Availability is judged between "answers half the time" (0) and the objective (1), and is a factor
 * of the whole score, so a key answering 50 % scores 0 whatever its latency, below a key answering
 * everything at 2x the latency objective (50). Both factors only fall as timeouts, errors or latency
 * grow, so the score is monotone. Non-quote answers are neither success nor failure, as in
 * `rankingScore`. An objective `responseRate <= 0.5` turns A into a step at the objective.
 *
 * Worked examples, objectives 0.99 and 2 s:
 * - 990 responses, 10 timeouts, p95 1.2 s: successRate 0.99, A = 1, L = 1, health 100.
 * - 950 responses, 30 timeouts, 20 errors, p95 3 s: successRate 0.95, A = 0.45 / 0.49 = 0.9184,
 *   L = 2 / 3, health = 100 * 0.9184 * 0.6667 = 61.2.
 */
export function healthScore(s: WindowSnapshot, objectives: HealthObjectives): number {
  const n = s.responses + s.errors + s.timeouts;
  if (n === 0) return Number.NaN;
  const successRate = s.responses / n;
  const floor = 0.5;
  let availability: number;
  if (objectives.responseRate > floor) {
    availability = (successRate - floor) / (objectives.responseRate - floor);
    availability = availability < 0 ? 0 : Math.min(availability, 1);
  } else {
    availability = successRate >= objectives.responseRate ? 1 : 0;
  }
  if (availability === 0) return 0;
  const p95 = s.p95LatencySeconds;
  const latency = p95 <= objectives.p95Seconds ? 1 : p95 > 0 ? objectives.p95Seconds / p95 : 0;
  return Math.round(1000 * availability * Math.max(latency, 0)) / 10;
}
