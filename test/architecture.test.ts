import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The layering of src/ (README "Architecture"): which stage may import which. The data flows one
 * way, from the sources through decoding, correlation and the fleet to the stats, and from there
 * to the metrics, the API and the command line; a stage never imports one above it.
 * `errors` and `log` (src/errors.ts, src/log.ts) serve every stage.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  protocol: [],
  export: [],
  config: [],
  state: [],
  decode: ['protocol'],
  correlate: ['decode', 'protocol'],
  fleet: ['protocol'],
  stats: ['correlate'],
  metrics: ['export', 'fleet', 'stats', 'correlate'],
  broker: ['export'],
  source: ['broker', 'config', 'decode', 'export', 'protocol'],
  sim: ['config', 'protocol'],
  keyer: ['config', 'decode', 'protocol'],
  // The read model the API reads: interfaces only.
  view: [],
  // The exporter is the sources' sink and the API's read model: it implements their interfaces.
  exporter: [
    'config',
    'correlate',
    'decode',
    'export',
    'fleet',
    'metrics',
    'protocol',
    'source',
    'state',
    'stats',
    'view',
  ],
  // The API reads the read model (src/view), whoever implements it; the exposition and the
  // protocol's device ids are all else it needs.
  http: ['export', 'protocol', 'view'],
  cli: [
    'broker',
    'config',
    'correlate',
    'decode',
    'export',
    'exporter',
    'fleet',
    'http',
    'keyer',
    'metrics',
    'protocol',
    'sim',
    'source',
    'state',
    'stats',
    'view',
  ],
};
const SHARED = new Set(['errors', 'log']);

const SRC = fileURLToPath(new URL('../src', import.meta.url));
const IMPORT = /(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** `src/stats/window.ts` → stats; `src/exporter.ts` and `src/exporter.state.test.ts` → exporter. */
const stageOf = (rel: string): string => rel.split(sep)[0]!.replace(/\..*$/, '');
const isTest = (file: string) => /\.(test|bench)\.ts$/.test(file);

interface Import {
  file: string;
  from: string;
  to: string;
  target: string;
}

function imports(): Import[] {
  const out: Import[] = [];
  for (const file of sources(SRC)) {
    const from = stageOf(relative(SRC, file));
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = relative(SRC, normalize(join(dirname(file), m[1]!)));
      if (target.startsWith('..')) continue; // test helpers, package.json
      const to = stageOf(target);
      if (to !== from) out.push({ file: relative(SRC, file), from, to, target });
    }
  }
  return out;
}

test('every stage of src/ is in the layering table', () => {
  const stages = new Set(imports().flatMap((i) => [i.from, i.to]));
  for (const s of stages) assert.ok(s in MAY_IMPORT || SHARED.has(s), `src/${s} is missing from MAY_IMPORT`);
});

test('no stage imports one above it (tests and benchmarks may read any stage)', () => {
  const wrong = imports()
    .filter((i) => !isTest(i.file) && !SHARED.has(i.to) && !(MAY_IMPORT[i.from] ?? []).includes(i.to))
    .map((i) => `src/${i.file} imports src/${i.target}: ${i.from} may not import ${i.to}`);
  assert.deepEqual(wrong, []);
});

test('code outside a folder imports only its index.ts', () => {
  const wrong = imports()
    .filter((i) => i.target.includes(sep) && !i.target.endsWith(`${sep}index.js`))
    .map((i) => `src/${i.file} imports src/${i.target}: import src/${i.to}/index.js instead`);
  assert.deepEqual(wrong, []);
});

test('the table has no import circles', () => {
  const seen = new Set<string>();
  const path: string[] = [];
  const visit = (s: string): void => {
    if (path.includes(s)) assert.fail(`import circle: ${[...path, s].join(' -> ')}`);
    if (seen.has(s)) return;
    path.push(s);
    for (const t of MAY_IMPORT[s] ?? []) visit(t);
    path.pop();
    seen.add(s);
  };
  for (const s of Object.keys(MAY_IMPORT)) visit(s);
});
