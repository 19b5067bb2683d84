import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Registry } from '../export/index.js';
import { readBuildInfo } from './build-info.js';
import { createCatalog } from './catalog.js';

const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

function files(pkg: string | undefined, revision: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'tkmprom-build-info-'));
  if (pkg !== undefined) writeFileSync(join(dir, 'package.json'), pkg);
  if (revision !== undefined) writeFileSync(join(dir, 'REVISION'), revision);
  return [pathToFileURL(join(dir, 'package.json')), pathToFileURL(join(dir, 'REVISION'))] as const;
}

describe('build info', () => {
  test('version from package.json, revision from the file the build writes, Node.js of the process', () => {
    assert.deepEqual(readBuildInfo(...files('{"version":"1.2.3"}', 'abc1234\n')), {
      version: '1.2.3',
      revision: 'abc1234',
      nodejs: process.version,
    });
  });

  test('unknown when a file is missing or holds no such thing', () => {
    const unknown = { version: 'unknown', revision: 'unknown', nodejs: process.version };
    assert.deepEqual(readBuildInfo(...files(undefined, undefined)), unknown);
    assert.deepEqual(readBuildInfo(...files('not json', '')), unknown);
    assert.deepEqual(readBuildInfo(...files('{"version":7}', 'two words')), unknown);
    assert.deepEqual(readBuildInfo(...files('{}', 'x'.repeat(65))), unknown);
    assert.equal(readBuildInfo(...files('{}', 'unknown\n')).revision, 'unknown');
  });

  test('from the sources: this package, no build revision', () => {
    assert.deepEqual(readBuildInfo(), { version: PKG.version, revision: 'unknown', nodejs: process.version });
  });

  test('tkmprom_build_info is one series, value 1', () => {
    const reg = new Registry();
    createCatalog(reg, [1], { build: { version: '1.2.3', revision: 'abc1234', nodejs: 'v20.0.0' } });
    const lines = reg
      .render('text')
      .split('\n')
      .filter((l) => l.includes('tkmprom_build_info'));
    assert.deepEqual(lines, [
      '# HELP tkmprom_build_info Always 1: the version (package.json), git revision (dist/REVISION) and Node.js version of this exporter.',
      '# TYPE tkmprom_build_info gauge',
      'tkmprom_build_info{version="1.2.3",revision="abc1234",nodejs="v20.0.0"} 1',
    ]);
    const own = new Registry();
    createCatalog(own, [1]);
    assert.match(
      own.render('text'),
      new RegExp(
        `^tkmprom_build_info\\{version="${PKG.version.replace(/\./g, '\\.')}",revision="unknown",nodejs="${process.version.replace(/\./g, '\\.')}"\\} 1$`,
        'm',
      ),
    );
  });
});
