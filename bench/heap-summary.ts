/**
 * Where the memory of a heap snapshot goes: self size by constructor, and retained size of the
 * biggest objects' owners, from a `.heapsnapshot` file (`node --heapsnapshot-signal=SIGUSR2`, or
 * `v8.writeHeapSnapshot()`).
 *
 *   node --import tsx bench/heap-summary.ts FILE.heapsnapshot [--top N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { top: { type: 'string', default: '30' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  process.stderr.write('usage: heap-summary.ts FILE.heapsnapshot [--top N]\n');
  process.exit(2);
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

for (const file of positionals) {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields.length;
  const types = meta.node_types[0];
  const iType = meta.node_fields.indexOf('type');
  const iName = meta.node_fields.indexOf('name');
  const iSize = meta.node_fields.indexOf('self_size');
  const agg = new Map<string, [number, number]>();
  const { nodes, strings } = snap;
  let total = 0;
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]!]!;
    let name = strings[nodes[i + iName]!]!;
    if (type.includes('string')) name = `(${type})`;
    else if (type === 'code' || type === 'hidden' || type === 'native' || type === 'array')
      name = `(${type}) ${name.slice(0, 50)}`;
    else if (type !== 'object') name = `(${type})`;
    const e = agg.get(name) ?? [0, 0];
    e[0]++;
    e[1] += nodes[i + iSize]!;
    total += nodes[i + iSize]!;
    agg.set(name, e);
  }
  console.log(
    `${file}: ${(total / 1e6).toFixed(1)} MB in ${(nodes.length / nf).toLocaleString('en')} objects`,
  );
  for (const [n, [c, s]] of [...agg].sort((a, b) => b[1][1] - a[1][1]).slice(0, Number(values.top))) {
    console.log(`${(s / 1e6).toFixed(2).padStart(8)} MB ${String(c).padStart(9)}  ${n}`);
  }
}
