import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FormatRow } from '../scrape-formats.js';
import type { Ctx } from '../lib/context.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface FormatsResult {
  rows: FormatRow[];
}

/**
 * The scrape in each exposition format at 8,000 devices and at the symbol cap: bench/scrape-formats.ts
 * in a process of its own, which needs `--expose-gc` and a young generation large enough that no
 * scavenge runs during a render (the allocation figure is the heap's growth over one).
 */
export async function formats(ctx: Ctx): Promise<FormatsResult> {
  ctx.log('rendering text, OpenMetrics and protobuf at 3,400 and 5,000 symbols (bench/scrape-formats.ts)');
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--max-semi-space-size=64', '--import', 'tsx', 'bench/scrape-formats.ts', '--json'],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench/scrape-formats.ts failed: ${r.stderr || r.error}`);
  return { rows: JSON.parse(r.stdout) as FormatRow[] };
}
