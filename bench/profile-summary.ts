/**
 * Where the time of a `--cpu-prof` profile goes: self time by function and by package, and the
 * garbage collector's share.
 *
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--filter TEXT]
 *     [--last SECONDS] [--skip-last SECONDS]
 *
 * `--last 20 --skip-last 1` keeps only the samples of the 20 s that ended 1 s before the profile
 * did: the steady state of a measured window, without start-up and compilation.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '30' },
    filter: { type: 'string' },
    last: { type: 'string' },
    'skip-last': { type: 'string', default: '0' },
  },
  allowPositionals: true,
});
if (positionals.length === 0) {
  process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N] [--filter TEXT]\n');
  process.exit(2);
}

for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  const to = p.endTime - Number(values['skip-last']) * 1e6;
  const from = values.last === undefined ? p.startTime : to - Number(values.last) * 1e6;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    at += p.timeDeltas[i] ?? 0;
    if (at < from || at > to) continue;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = (Math.min(to, p.endTime) - Math.max(from, p.startTime)) / 1000;
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const where = f.url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, 'node_modules/')
      .replace(/^.*\/(dist|src)\//, '$1/');
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const pkg =
      f.url === ''
        ? `(${f.functionName || 'native'})`
        : where.startsWith('node_modules/')
          ? where.split('/').slice(0, 2).join('/')
          : where.startsWith('node:')
            ? 'node:' + where.slice(5).split('/')[0]
            : where.split('/').slice(0, 2).join('/');
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
    // Inclusive time of the stack's frames, each counted once per sample path.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const cf = byId.get(at)!.callFrame;
      const k = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(dist|src|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const busy =
    [...self.entries()]
      .filter(([id]) => byId.get(id)!.callFrame.functionName !== '(idle)')
      .reduce((s, [, us]) => s + us, 0) / 1000;
  const top = Number(values.top);
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n${title}`);
    for (const [k, us] of [...m]
      .filter(([k]) => !values.filter || k.includes(values.filter))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)) {
      console.log(
        `${(us / 1000).toFixed(1).padStart(9)} ms ${((us / 1000 / busy) * 100).toFixed(1).padStart(5)} %  ${k}`,
      );
    }
  };
  console.log(
    `${file}: ${total.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms busy (${((busy / total) * 100).toFixed(1)} %)`,
  );
  show('self time by package', byPkg);
  show('self time by function', byFn);
  show('inclusive time by function', inclusive);
}
