import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { PAGE_ERROR_LABEL, ReplyType } from '../protocol/index.js';
import { STREAMS } from './streams.js';

/** The error replies a fault may answer with, by the `type` label the exporter counts them under. */
export const ERROR_KINDS = [ReplyType.StockError, ReplyType.InvalidFormat, PAGE_ERROR_LABEL] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * One fault of the simulated backend. `symbol` and `stream` narrow it (both must match when both
 * are given; neither means every quote request); `fromMs`/`untilMs` bound it in real time from
 * the run's start, `untilMs` excluded.
 */
export interface Fault {
  symbol?: string;
  stream?: string;
  /** Replies take about this long. */
  latencyMs?: number;
  /** Share of requests never answered. */
  drop?: number;
  /** Requests are answered with this error... */
  error?: ErrorKind;
  /** ...this share of them (default all). */
  rate?: number;
  /** Share of replies sent after the request timeout, inside the late window. */
  late?: number;
  /** The whole backend answers nothing: no replies, no boot handling, no HTTP hand-offs. */
  outage?: boolean;
  fromMs?: number;
  untilMs?: number;
}

export interface Scenario {
  faults: Fault[];
}

/** TSLA answers in about 4 s; the coingecko stream (crypto pairs) stops answering. */
export const DEMO_SCENARIO: Scenario = {
  faults: [
    { symbol: 'TSLA', latencyMs: 4000 },
    { stream: 'coingecko', drop: 1 },
  ],
};

const share = z.number().min(0, 'expected a share from 0 to 1').max(1, 'expected a share from 0 to 1');

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as 4s, 500ms or 2m, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});

const FaultEntry = z
  .object({
    symbol: z.string().min(1, 'expected a symbol').optional(),
    stream: z
      .string()
      .refine((s) => (STREAMS as readonly string[]).includes(s), {
        message: `expected one of ${STREAMS.join(', ')}`,
      })
      .optional(),
    latency: duration.optional(),
    drop: share.optional(),
    error: z.enum(ERROR_KINDS, { message: `expected one of ${ERROR_KINDS.join(', ')}` }).optional(),
    rate: share.optional(),
    late: share.optional(),
    outage: z.literal(true, { message: 'expected true' }).optional(),
    from: duration.optional(),
    until: duration.optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const effects = [f.latency, f.drop, f.error, f.late, f.outage].filter((e) => e !== undefined);
    if (effects.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'names no effect: give latency, drop, error, late or outage',
      });
    }
    if (f.rate !== undefined && f.error === undefined) {
      ctx.addIssue({ code: 'custom', path: ['rate'], message: 'rate applies to error: give error too' });
    }
    if (f.outage && (f.symbol !== undefined || f.stream !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['outage'],
        message: 'an outage stops the whole backend; use drop: 1 for one symbol or stream',
      });
    }
    if (f.from !== undefined && f.until !== undefined && f.until <= f.from) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be later than from' });
    }
  });

const ScenarioFile = z
  .object({ faults: z.array(FaultEntry, { message: 'expected a list of faults' }).default([]) })
  .strict();

function where(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path)
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(file)';
}

/**
 * Reads a scenario file. Errors name the entry and the field (`faults[2].latency: ...`), and the
 * line and column for YAML syntax errors.
 */
export function parseScenario(yamlText: string): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText);
  } catch (err) {
    const detail =
      err instanceof YAMLParseError && err.linePos
        ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ${err.message.split('\n')[0]}`
        : (err as Error).message;
    throw new TkmpromError(ErrorCodes.SCENARIO_INVALID, `scenario is not valid YAML: ${detail}`);
  }
  if (raw === null || raw === undefined) raw = {};
  const result = ScenarioFile.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `${where([...issue.path, k])}: unknown field`).join('; ');
      }
      return `${where(issue.path)}: ${issue.message}`;
    });
    throw new TkmpromError(ErrorCodes.SCENARIO_INVALID, `invalid scenario: ${issues.join('; ')}`);
  }
  return {
    faults: result.data.faults.map((f) => {
      const fault: Fault = {};
      if (f.symbol !== undefined) fault.symbol = f.symbol;
      if (f.stream !== undefined) fault.stream = f.stream;
      if (f.latency !== undefined) fault.latencyMs = f.latency;
      if (f.drop !== undefined) fault.drop = f.drop;
      if (f.error !== undefined) fault.error = f.error;
      if (f.rate !== undefined) fault.rate = f.rate;
      if (f.late !== undefined) fault.late = f.late;
      if (f.outage !== undefined) fault.outage = f.outage;
      if (f.from !== undefined) fault.fromMs = f.from;
      if (f.until !== undefined) fault.untilMs = f.until;
      return fault;
    }),
  };
}

/** Checks a scenario built in code with the same rules as a file. */
export function validateScenario(scenario: Scenario): Scenario {
  for (const [i, f] of scenario.faults.entries()) {
    const bad = (field: string, message: string): never => {
      throw new TkmpromError(
        ErrorCodes.SCENARIO_INVALID,
        `invalid scenario: faults[${i}].${field}: ${message}`,
      );
    };
    for (const key of ['drop', 'rate', 'late'] as const) {
      const v = f[key];
      if (v !== undefined && !(v >= 0 && v <= 1)) bad(key, 'expected a share from 0 to 1');
    }
    if (f.latencyMs !== undefined && !(f.latencyMs >= 0)) bad('latencyMs', 'expected milliseconds');
    if (f.stream !== undefined && !(STREAMS as readonly string[]).includes(f.stream)) {
      bad('stream', `expected one of ${STREAMS.join(', ')}`);
    }
    if (f.error !== undefined && !(ERROR_KINDS as readonly string[]).includes(f.error)) {
      bad('error', `expected one of ${ERROR_KINDS.join(', ')}`);
    }
    if (f.outage && (f.symbol !== undefined || f.stream !== undefined)) {
      bad('outage', 'an outage stops the whole backend; use drop: 1 for one symbol or stream');
    }
  }
  return scenario;
}

/** What the backend does with one request, after every matching fault has had its say. */
export interface FaultDecision {
  drop: boolean;
  error: ErrorKind | undefined;
  late: boolean;
  latencyMs: number | undefined;
}

function active(f: Fault, t: number): boolean {
  return (f.fromMs === undefined || t >= f.fromMs) && (f.untilMs === undefined || t < f.untilMs);
}

/** The scenario in the form the backend consults for every request. */
export class FaultPlan {
  private readonly outages: Fault[];
  private readonly faults: Fault[];
  readonly decision: FaultDecision = { drop: false, error: undefined, late: false, latencyMs: undefined };

  constructor(readonly scenario: Scenario) {
    this.outages = scenario.faults.filter((f) => f.outage);
    this.faults = scenario.faults.filter((f) => !f.outage);
  }

  inOutage(t: number): boolean {
    for (const f of this.outages) if (active(f, t)) return true;
    return false;
  }

  /** Symbols the scenario names, to warn about those no device shows. */
  symbols(): string[] {
    return this.faults.flatMap((f) => (f.symbol === undefined ? [] : [f.symbol]));
  }

  /**
   * Applies the faults matching a request at `t` for `symbol` on `stream`. Each share is drawn
   * from `draw` in fault order, so a seed reproduces the decisions. The returned object is reused.
   */
  decide(t: number, symbol: string, stream: string, draw: () => number): FaultDecision {
    const d = this.decision;
    d.drop = false;
    d.error = undefined;
    d.late = false;
    d.latencyMs = undefined;
    for (const f of this.faults) {
      if (f.symbol !== undefined && f.symbol !== symbol) continue;
      if (f.stream !== undefined && f.stream !== stream) continue;
      if (!active(f, t)) continue;
      if (f.drop !== undefined && draw() < f.drop) d.drop = true;
      if (f.error !== undefined && d.error === undefined && draw() < (f.rate ?? 1)) d.error = f.error;
      if (f.late !== undefined && draw() < f.late) d.late = true;
      if (f.latencyMs !== undefined && (d.latencyMs === undefined || f.latencyMs > d.latencyMs)) {
        d.latencyMs = f.latencyMs;
      }
    }
    return d;
  }
}
