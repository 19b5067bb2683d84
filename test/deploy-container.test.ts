import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..');
const RECIPE = join(ROOT, 'deploy/container/Containerfile');

interface Stage {
  name: string;
  workdir: string;
  steps: { op: string; args: string }[];
}

/** The recipe's stages with their instructions, continuation lines joined, comments dropped. */
function parseRecipe(text: string): Stage[] {
  const lines = text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op, ...rest] = line.split(' ');
    const args = rest.join(' ');
    if (op === 'FROM') {
      stages.push({ name: args.split(' AS ')[1] ?? '', workdir: '/', steps: [] });
    } else {
      const stage = stages.at(-1)!;
      if (op === 'WORKDIR') stage.workdir = args;
      stage.steps.push({ op: op!, args });
    }
  }
  return stages;
}

describe('the container recipe', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'tkmprom-container-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  const stages = parseRecipe(readFileSync(RECIPE, 'utf8'));

  test('is multi-stage, non-root, with a health check, the state volume and port 9883', () => {
    assert.deepEqual(
      stages.map((s) => s.name),
      ['build', 'runtime'],
    );
    const runtime = stages[1]!.steps;
    const get = (op: string) => runtime.filter((s) => s.op === op).map((s) => s.args);
    assert.deepEqual(get('USER'), ['node']);
    assert.deepEqual(get('VOLUME'), ['["/var/lib/tkmprom"]']);
    assert.deepEqual(get('EXPOSE'), ['9883']);
    assert.equal(get('HEALTHCHECK').length, 1);
    assert.match(get('HEALTHCHECK')[0]!, /http:\/\/127\.0\.0\.1:9883\/healthz/);
    assert.match(get('ENTRYPOINT')[0]!, /"--state-dir", "\/var\/lib\/tkmprom"/);
    assert.deepEqual(
      stages[0]!.steps.filter((s) => s.op === 'RUN').map((s) => s.args),
      ['npm ci --no-audit --no-fund && npm run build'],
    );
    assert.ok(get('RUN').includes('npm ci --omit=dev --no-audit --no-fund && npm cache clean --force'));
  });

  test('its build and runtime steps work on a copy of the repository, and the image starts', () => {
    // Each stage's root is a folder of its own; COPY resolves from the repository (the build
    // context) or, with --from, from the named stage. RUN steps run in the stage's WORKDIR. Steps
    // that need the image's root and its users (mkdir/chown of /var/lib) are not run here.
    const rootOf = (name: string) => join(scratch, name);
    for (const stage of stages) {
      mkdirSync(rootOf(stage.name), { recursive: true });
      let workdir = '/';
      const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: undefined };
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') workdir = args;
        if (op === 'ENV') {
          const [key, value] = args.split('=');
          env[key!] = value;
        }
        const cwd = join(rootOf(stage.name), workdir);
        mkdirSync(cwd, { recursive: true });
        if (op === 'COPY') {
          const words = args.split(' ');
          const from = words[0]!.startsWith('--from=')
            ? rootOf(words.shift()!.slice('--from='.length))
            : ROOT;
          const dest = words.pop()!;
          for (const src of words) {
            const target = dest.endsWith('/') ? join(cwd, dest, src.split('/').pop()!) : join(cwd, dest);
            cpSync(join(from, src), target, { recursive: true });
          }
        } else if (op === 'RUN' && args.startsWith('npm ')) {
          execSync(args, { cwd, stdio: 'pipe', timeout: 240_000, env });
        }
      }
    }
    const app = join(rootOf('runtime'), '/opt/tkmprom');
    // The runtime layout has production dependencies only, and the build's output.
    const modules = spawnSync('ls', [join(app, 'node_modules')], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(modules.includes('mqtt'), 'mqtt is installed');
    assert.ok(!modules.includes('typescript'), 'typescript is not installed');
    const help = spawnSync('node', ['dist/cli/main.js', '--help'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^tkmprom: Prometheus exporter for a TickrMeter fleet/);
    const simulate = spawnSync('node', ['dist/cli/main.js', 'simulate', '--help'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(simulate.status, 0, simulate.stderr);
  });
});
