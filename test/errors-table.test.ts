import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCodes } from '../src/errors.js';

/** The codes of the README's "Errors" table: every backticked TKM_ code in its first column. */
function documentedCodes(readme: string): string[] {
  const section = /^## Errors\n([\s\S]*?)^## /m.exec(readme)?.[1];
  assert.ok(section !== undefined, 'the README has an "Errors" section');
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  assert.ok(rows.length > 0, 'the Errors section has a table');
  return rows.flatMap((row) => [...row.split('|')[1]!.matchAll(/`(TKM_[A-Z_]+)`/g)].map((m) => m[1]!));
}

test("every code of src/errors.ts is a row of the README's Errors table, and every row a code", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const documented = documentedCodes(readme);
  const codes: string[] = Object.values(ErrorCodes);
  assert.deepEqual(
    documented.filter((c, i) => documented.indexOf(c) !== i),
    [],
    'no code is documented twice',
  );
  assert.deepEqual(
    codes.filter((c) => !documented.includes(c)),
    [],
    'codes missing from the README',
  );
  assert.deepEqual(
    documented.filter((c) => !codes.includes(c)),
    [],
    'README rows with no such code',
  );
  assert.equal(documented.length, codes.length);
  assert.equal(new Set(codes).size, codes.length, 'no two names share a code');
});
