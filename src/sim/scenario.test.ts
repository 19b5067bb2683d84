import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { DEMO_SCENARIO, FaultPlan, parseScenario, validateScenario } from './scenario.js';

const FULL = `
faults:
  - { symbol: TSLA, latency: 4s }            # this symbol answers slowly
  - { stream: coingecko, drop: 1.0 }         # share of its requests never answered
  - { symbol: XYZ, error: STOCK_ERROR, rate: 0.5 }
  - { outage: true, from: 30s, until: 40s }  # the backend answers nothing
  - { stream: polygon, latency: 2s, from: 60s }
  - { symbol: AAPL, late: 0.3 }
  - symbol: _page
    error: PAGE_ERROR
`;

test('parses every kind of fault', () => {
  assert.deepEqual(parseScenario(FULL), {
    faults: [
      { symbol: 'TSLA', latencyMs: 4000 },
      { stream: 'coingecko', drop: 1 },
      { symbol: 'XYZ', error: 'STOCK_ERROR', rate: 0.5 },
      { outage: true, fromMs: 30_000, untilMs: 40_000 },
      { stream: 'polygon', latencyMs: 2000, fromMs: 60_000 },
      { symbol: 'AAPL', late: 0.3 },
      { symbol: '_page', error: 'PAGE_ERROR' },
    ],
  });
  assert.deepEqual(parseScenario(''), { faults: [] });
  assert.deepEqual(parseScenario('faults: []'), { faults: [] });
});

function scenarioError(text: string): string {
  try {
    parseScenario(text);
  } catch (err) {
    assert.ok(err instanceof TkmpromError, 'err instanceof TkmpromError');
    assert.equal(err.code, ErrorCodes.SCENARIO_INVALID);
    return err.message;
  }
  assert.fail('expected an error');
}

test('invalid entries are reported by index and field', () => {
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, latency: 4s }\n  - { symbol: B, latency: fast }'),
    'invalid scenario: faults[1].latency: expected a duration such as 4s, 500ms or 2m, got "fast"',
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, latency: 4 }'),
    'invalid scenario: faults[0].latency: expected a duration such as 4s, 500ms or 2m, got 4',
  );
  assert.equal(
    scenarioError('faults:\n  - { stream: polygon, drop: 1.5 }'),
    'invalid scenario: faults[0].drop: expected a share from 0 to 1',
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, drop: 0.1, dorp: 1 }'),
    'invalid scenario: faults[0].dorp: unknown field',
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A }'),
    'invalid scenario: faults[0]: names no effect: give latency, drop, error, late or outage',
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, late: 0.1, rate: 0.5 }'),
    'invalid scenario: faults[0].rate: rate applies to error: give error too',
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, outage: true }'),
    'invalid scenario: faults[0].outage: an outage stops the whole backend; use drop: 1 for one symbol or stream',
  );
  assert.equal(
    scenarioError('faults:\n  - { outage: true, from: 40s, until: 30s }'),
    'invalid scenario: faults[0].until: must be later than from',
  );
  assert.match(
    scenarioError('faults:\n  - { stream: nasdaq, drop: 1 }'),
    /^invalid scenario: faults\[0\]\.stream: expected one of polygon, tradingview, /,
  );
  assert.equal(
    scenarioError('faults:\n  - { symbol: A, error: TIMEOUT }'),
    'invalid scenario: faults[0].error: expected one of STOCK_ERROR, INVALID_FORMAT, PAGE_ERROR',
  );
  assert.equal(
    scenarioError(
      'faults:\n  - { symbol: A, drop: 0.1 }\n  - { symbol: B, drop: x }\n  - { symbol: 3, late: 0.1 }',
    ),
    'invalid scenario: faults[1].drop: Invalid input: expected number, received string; faults[2].symbol: Invalid input: expected string, received number',
  );
  assert.equal(scenarioError('fault: []'), 'invalid scenario: fault: unknown field');
  assert.equal(scenarioError('faults: 3'), 'invalid scenario: faults: expected a list of faults');
  assert.match(
    scenarioError('faults:\n  - { symbol: A\n'),
    /^scenario is not valid YAML: line \d+, column \d+: /,
  );
});

test('scenarios built in code are checked the same way', () => {
  assert.equal(validateScenario(DEMO_SCENARIO), DEMO_SCENARIO);
  assert.throws(
    () => validateScenario({ faults: [{ symbol: 'A' }, { stream: 'polygon', late: 2 }] }),
    /faults\[1\]\.late: expected a share from 0 to 1/,
  );
});

test('the demo scenario slows TSLA and silences coingecko', () => {
  assert.deepEqual(DEMO_SCENARIO, {
    faults: [
      { symbol: 'TSLA', latencyMs: 4000 },
      { stream: 'coingecko', drop: 1 },
    ],
  });
});

test('a fault plan combines the faults that match a request at its time', () => {
  const plan = new FaultPlan(parseScenario(FULL));
  const always = () => 0;
  const never = () => 0.999;
  assert.deepEqual(
    { ...plan.decide(0, 'TSLA', 'fxon', never) },
    { drop: false, error: undefined, late: false, latencyMs: 4000 },
  );
  assert.deepEqual(
    { ...plan.decide(0, 'BTC/USD', 'coingecko', never) },
    { drop: true, error: undefined, late: false, latencyMs: undefined },
  );
  assert.deepEqual(
    { ...plan.decide(0, 'XYZ', 'polygon', always) },
    { drop: false, error: 'STOCK_ERROR', late: false, latencyMs: undefined },
  );
  assert.deepEqual(
    { ...plan.decide(0, 'XYZ', 'polygon', never) },
    { drop: false, error: undefined, late: false, latencyMs: undefined },
  );
  assert.equal(plan.decide(59_999, 'MSFT', 'polygon', never).latencyMs, undefined);
  assert.equal(plan.decide(60_000, 'MSFT', 'polygon', never).latencyMs, 2000);
  assert.equal(plan.decide(0, 'AAPL', 'fxon', always).late, true);
  assert.equal(plan.decide(0, 'AAPL', 'fxon', never).late, false);
  assert.equal(plan.inOutage(29_999), false);
  assert.equal(plan.inOutage(30_000), true);
  assert.equal(plan.inOutage(39_999), true);
  assert.equal(plan.inOutage(40_000), false);
  assert.deepEqual(plan.symbols(), ['TSLA', 'XYZ', 'AAPL', '_page']);
});
