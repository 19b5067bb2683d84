import { readFileSync } from 'node:fs';

/** The labels of `tkmprom_build_info`. */
export interface BuildInfo {
  /** `version` of package.json. */
  version: string;
  /** `git rev-parse --short HEAD` at build time, from `dist/REVISION`; `unknown` outside git or from the sources. */
  revision: string;
  /** `process.version`, such as `v20.19.5`. */
  nodejs: string;
}

/** Longer than any git revision; a file past it is not one. */
const MAX_REVISION = 64;

function readText(url: URL): string | undefined {
  try {
    return readFileSync(url, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads what the build left: the package's version (package.json, two folders up from this file in
 * `src/` and `dist/` alike) and the revision `npm run build` writes to `dist/REVISION`, next to the
 * stage folders. Run from the sources there is no such file: the revision is `unknown`.
 */
export function readBuildInfo(
  packageJson = new URL('../../package.json', import.meta.url),
  revisionFile = new URL('../REVISION', import.meta.url),
): BuildInfo {
  let version = 'unknown';
  const pkg = readText(packageJson);
  if (pkg !== undefined) {
    try {
      const v = (JSON.parse(pkg) as { version?: unknown }).version;
      if (typeof v === 'string' && v !== '') version = v;
    } catch {
      // A package.json that does not parse leaves the version unknown.
    }
  }
  const rev = readText(revisionFile)?.trim() ?? '';
  const revision =
    rev !== '' && rev.length <= MAX_REVISION && /^[0-9A-Za-z._-]+$/.test(rev) ? rev : 'unknown';
  return { version, revision, nodejs: process.version };
}

let cached: BuildInfo | undefined;

/** `readBuildInfo()` once per process. */
export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo();
  return cached;
}
