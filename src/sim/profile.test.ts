import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, TkmpromError } from '../errors.js';
import {
  buildFleet,
  defaultProfilePath,
  firmwareFields,
  loadProfile,
  parseProfile,
  profileSymbols,
} from './profile.js';
import { EXTRA_SYMBOLS } from './streams.js';

const profile = loadProfile();

test('loads the fleet profile from the package', () => {
  assert.match(defaultProfilePath(), /data\/fleet-profile\.json$/);
  assert.equal(profile.devices, 7662);
  assert.equal(profile.device_configs, 7288);
  assert.equal(profile.playlist_share, 0.3983);
  assert.equal(profile.symbols_by_popularity.length, 3422);
  assert.deepEqual(profile.symbols_by_popularity[0], { symbol: 'TSLA', devices: 947 });
  assert.equal(profileSymbols(profile).length, 3422 + EXTRA_SYMBOLS.length);
  assert.equal(loadProfile(), profile, 'the default profile is read once');
});

test('rejects a profile that lacks a distribution, naming it', () => {
  const { playlist_size: _, ...broken } = profile;
  assert.throws(
    () => parseProfile(broken, 'p.json'),
    (err: unknown) =>
      err instanceof TkmpromError &&
      err.code === ErrorCodes.PROFILE_INVALID &&
      /p\.json: playlist_size/.test(err.message),
  );
  assert.throws(() => loadProfile('/nonexistent/profile.json'), /cannot read the profile/);
});

test('the same seed builds the same fleet, another seed another one', () => {
  const a = buildFleet(profile, 500, 1);
  const b = buildFleet(profile, 500, 1);
  assert.deepEqual(a, b);
  const c = buildFleet(profile, 500, 2);
  assert.notDeepEqual(
    a.map((d) => d.id),
    c.map((d) => d.id),
  );
  assert.deepEqual(
    a.slice(0, 3).map((d) => d.id),
    ['94B97E807D10', '4022D877F810', '4022D86D3D10'],
  );
});

test('the fleet follows the profile', () => {
  const fleet = buildFleet(profile, 2000, 1);
  const kinds: Record<string, number> = {};
  for (const d of fleet) kinds[d.kind] = (kinds[d.kind] ?? 0) + 1;
  assert.deepEqual(kinds, { single: 1121, playlist: 750, unregistered: 46, noconfig: 65, page: 18 });
  assert.equal(new Set(fleet.map((d) => d.id)).size, 2000);

  const symbols = new Set(profileSymbols(profile));
  const single = new Set(profile.single_update_interval_s.map((r) => r.value));
  const playlistUpdate = new Set(profile.playlist_update_interval_s.map((r) => r.value));
  const cycle = new Set(profile.playlist_cycle_interval_s.map((r) => r.value));
  const firmware = new Set(profile.firmware_versions.map((r) => r.value));
  for (const d of fleet) {
    assert.match(d.id, /^[0-9A-F]{12}$/);
    assert.ok(firmware.has(d.firmware), 'firmware.has(d.firmware)');
    assert.deepEqual(d.fields, firmwareFields(d.firmware));
    assert.ok(d.battery >= 0 && d.battery <= 100, 'd.battery >= 0 && d.battery <= 100');
    assert.ok(d.vin >= 0 && d.vin <= 4095, 'd.vin >= 0 && d.vin <= 4095');
    for (const s of d.symbols) assert.ok(symbols.has(s), s);
    if (d.kind === 'playlist') {
      assert.ok(
        d.symbols.length >= 2 && d.symbols.length <= 10,
        'd.symbols.length >= 2 && d.symbols.length <= 10',
      );
      assert.equal(new Set(d.symbols).size, d.symbols.length, 'playlist symbols are distinct');
      assert.ok(playlistUpdate.has(d.updateIntervalS), 'playlistUpdate.has(d.updateIntervalS)');
      assert.ok(cycle.has(d.cycleIntervalS), 'cycle.has(d.cycleIntervalS)');
    } else {
      assert.equal(d.symbols.length, d.kind === 'single' ? 1 : 0);
      assert.equal(d.cycleIntervalS, 0);
      if (d.kind === 'single' || d.kind === 'page')
        assert.ok(single.has(d.updateIntervalS), 'single.has(d.updateIntervalS)');
    }
  }
  assert.equal(fleet.filter((d) => d.symbols.includes('TSLA')).length, 199);
  assert.equal(fleet.filter((d) => d.bootsAtStart).length, 59);
});

test('older firmware leaves heartbeat fields out rather than sending zero', () => {
  assert.deepEqual(firmwareFields('45p'), { iv: true, xmc: true, flashID: true, wflct: true, vin: true });
  assert.deepEqual(firmwareFields('36p'), { iv: true, xmc: false, flashID: true, wflct: true, vin: true });
  assert.deepEqual(firmwareFields('31p'), { iv: true, xmc: false, flashID: false, wflct: true, vin: true });
  assert.deepEqual(firmwareFields('25p'), { iv: false, xmc: false, flashID: false, wflct: false, vin: true });
  assert.deepEqual(firmwareFields('1.81'), { iv: false, xmc: false, flashID: false, wflct: true, vin: true });
  assert.deepEqual(firmwareFields('1.8'), {
    iv: false,
    xmc: false,
    flashID: false,
    wflct: false,
    vin: false,
  });
});
