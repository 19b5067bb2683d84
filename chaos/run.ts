/**
 * `npm run chaos`: tkmprom under faults, on loopback only, bounded in time, stopping by itself.
 * Prints one row per checked figure; `--markdown` prints the table for docs/reliability.md.
 *
 *   npm run chaos                         every scenario at full size (about 15 minutes)
 *   npm run chaos -- --quick              every scenario, small (a check of the harness)
 *   npm run chaos -- --only freeze,soak   some of them
 */
import { parseArgs } from 'node:util';
import { installCleanup, stopAll } from '../bench/lib/procs.js';
import type { Row } from './lib.js';
import { SCENARIOS } from './scenarios.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    markdown: { type: 'boolean', default: false },
  },
  strict: true,
});
type Name = keyof typeof SCENARIOS;
const names = (values.only?.split(',').map((s) => s.trim()) ?? Object.keys(SCENARIOS)) as Name[];
for (const n of names) {
  if (!(n in SCENARIOS)) {
    process.stderr.write(`chaos: unknown scenario "${n}"; scenarios: ${Object.keys(SCENARIOS).join(', ')}\n`);
    process.exit(2);
  }
}

installCleanup();
const rows: Row[] = [];
const started = Date.now();
for (const n of names) {
  const t0 = Date.now();
  process.stdout.write(`== ${n}\n`);
  try {
    const got = await SCENARIOS[n]({ quick: values.quick === true });
    for (const r of got) process.stdout.write(`  ${r.pass ? 'ok  ' : 'FAIL'} ${r.check}: ${r.figure}\n`);
    rows.push(...got);
  } catch (err) {
    rows.push({
      scenario: n,
      check: 'ran to its end',
      figure: (err as Error).message.split('\n')[0]!,
      pass: false,
    });
    process.stdout.write(`  FAIL ${n}: ${(err as Error).stack}\n`);
  }
  process.stdout.write(`  (${Math.round((Date.now() - t0) / 1000)} s)\n`);
}
await stopAll();

const failed = rows.filter((r) => !r.pass).length;
if (values.markdown) {
  process.stdout.write('\n| scenario | check | figure | |\n|---|---|---|---|\n');
  for (const r of rows)
    process.stdout.write(`| ${r.scenario} | ${r.check} | ${r.figure} | ${r.pass ? 'ok' : '**failed**'} |\n`);
}
process.stdout.write(
  `\n${rows.length - failed} passed, ${failed} failed (${Math.round((Date.now() - started) / 1000)} s)\n`,
);
process.exit(failed === 0 ? 0 : 1);
