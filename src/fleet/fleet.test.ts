import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BATTERY_BANDS, batteryBand, Fleet, type FleetConfig, type HeartbeatFacts } from './fleet.js';

const CFG: FleetConfig = {
  deviceTimeoutMs: 600_000,
  maxDevices: 1000,
  bootMessageDelayMs: 120_000,
  maxLabelValues: 100,
  recentOfflineSize: 10,
};
const D = 'EC6260314DD0';

function hb(fields: Partial<HeartbeatFacts> = {}): HeartbeatFacts {
  return {
    device: D,
    firmware: '45p',
    innerVersion: 'elec+HB',
    flashId: 'C84017',
    battery: 78,
    vin: 2750,
    uptime: 3600,
    wifiLost: 2,
    flashCheck: 0,
    charging: 0,
    ...fields,
  };
}

function rebootsOf(f: Fleet): number {
  let n = 0;
  for (const v of f.reboots().values()) n += v;
  return n;
}

describe('heartbeats', () => {
  test('absent fields are unknown and keep the last known value', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb(), 0);
    f.heartbeat(hb({ battery: Number.NaN, vin: Number.NaN, innerVersion: undefined, charging: -1 }), 1000);
    const d = f.get(D)!;
    assert.equal(d.battery, 78);
    assert.equal(d.vin, 2750);
    assert.equal(d.innerVersion, 'elec+HB');
    assert.equal(d.charging, 0);
  });

  test('a device heard only by requests and replies is online with unknown versions', () => {
    const f = new Fleet(CFG);
    f.heard(D, 0);
    f.reply(D, Number.NaN, 0);
    const c = f.count(1000);
    assert.equal(c.online, 1);
    assert.deepEqual([...c.byVersion.entries()], [['unknown\u0000unknown\u0000unknown', 1]]);
    assert.equal(c.byCharging.unknown, 1);
    assert.equal(c.byBattery[10], 1);
  });

  test('an id heard only in requests and boot messages is no device: neither online nor offline', () => {
    const f = new Fleet(CFG);
    f.heard(D, 0);
    f.boot(D, 10);
    let c = f.count(1000);
    assert.deepEqual([c.online, c.offline, c.unconfirmed], [0, 0, 1]);
    assert.equal(f.isOnline(f.get(D)!, 1000), false);
    // Long past the device timeout it is still no offline device, and leaves no offline event.
    c = f.count(CFG.deviceTimeoutMs * 10);
    assert.deepEqual([c.online, c.offline, c.unconfirmed], [0, 0, 1]);
    assert.equal(f.offlineEvents().length, 0);
  });

  test('a heartbeat or a reply on its topic confirms a device', () => {
    const f = new Fleet(CFG);
    f.heard(D, 0);
    f.heartbeat(hb({ device: D }), 5);
    f.heard('BBBBBBBBBBBB', 0);
    f.reply('BBBBBBBBBBBB', Number.NaN, 5);
    const c = f.count(1000);
    assert.deepEqual([c.online, c.offline, c.unconfirmed], [2, 0, 0]);
  });

  test('battery bands', () => {
    assert.deepEqual(
      [0, 9, 10, 55, 89.9, 90, 100, Number.NaN].map((b) => BATTERY_BANDS[batteryBand(b)]),
      ['0-9', '0-9', '10-19', '50-59', '80-89', '90-100', '90-100', 'unknown'],
    );
  });
});

describe('online and offline', () => {
  test('offline after the device timeout, or 2.5 update intervals when longer', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb(), 0);
    assert.equal(f.count(599_999).online, 1);
    assert.equal(f.count(600_000).online, 0);
    f.reply(D, 3600, 700_000);
    assert.equal(f.count(700_000 + 8_999_999).online, 1);
    assert.equal(f.count(700_000 + 9_000_000).online, 0);
    assert.deepEqual(
      f.offlineEvents().map((e) => [e.device, e.at]),
      [
        [D, 600_000],
        [D, 9_700_000],
      ],
    );
  });

  test('charging states and firmware of online devices', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ device: '000000000001', charging: 1, firmware: '70p' }), 0);
    f.heartbeat(hb({ device: '000000000002', charging: 0 }), 0);
    f.heartbeat(hb({ device: '000000000003', charging: -1, battery: Number.NaN }), 0);
    const c = f.count(1);
    assert.deepEqual(c.byCharging, { charging: 1, not_charging: 1, unknown: 1 });
    assert.equal(c.byVersion.get('70p\u0000elec+HB\u0000C84017'), 1);
    assert.equal(c.byVersion.get('45p\u0000elec+HB\u0000C84017'), 2);
    assert.equal(c.byBattery[7], 2);
    assert.equal(c.byBattery[10], 1);
  });

  test('versions: the parts of each online version, counted anew into the same entries', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ device: '000000000001', firmware: '70p' }), 0);
    f.heartbeat(hb({ device: '000000000002' }), 0);
    f.heartbeat(hb({ device: '000000000003' }), 0);
    const parts = (c: ReturnType<Fleet['count']>) =>
      c.versions.map((v) => [v.firmware, v.innerVersion, v.flashId, v.online]);
    const c = f.count(1);
    assert.deepEqual(parts(c), [
      ['70p', 'elec+HB', 'C84017', 1],
      ['45p', 'elec+HB', 'C84017', 2],
    ]);
    const first = c.versions[0];
    f.heartbeat(hb({ device: '000000000001', firmware: '45p' }), 2);
    f.heartbeat(hb({ device: '000000000002', innerVersion: 'elec' }), 2);
    f.count(3, c);
    assert.deepEqual(parts(c), [
      ['45p', 'elec+HB', 'C84017', 2],
      ['45p', 'elec', 'C84017', 1],
    ]);
    assert.equal(c.versions[0], first, 'the entry is reused');
    f.count(CFG.deviceTimeoutMs + 10, c);
    assert.deepEqual(parts(c), [], 'no version without an online device');
  });
});

describe('reboots', () => {
  test('a boot message and the uptime drop of the same reboot count once', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ uptime: 5000 }), 0);
    f.boot(D, 100_000);
    f.boot(D, 110_000); // re-sent until answered
    f.reply(D, 120, 112_000);
    f.heartbeat(hb({ uptime: 30 }), 125_000);
    assert.equal(rebootsOf(f), 1);
    assert.equal(f.reboots().get('45p'), 1);
  });

  test('an uptime drop seen before the boot message counts once', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ uptime: 5000 }), 0);
    f.heartbeat(hb({ uptime: 5 }), 100_000);
    f.boot(D, 104_000);
    assert.equal(rebootsOf(f), 1);
  });

  test('a reboot with no boot message is counted from the uptime', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ uptime: 5000 }), 0);
    f.heartbeat(hb({ uptime: 20 }), 60_000);
    assert.equal(rebootsOf(f), 1);
  });

  test('two reboots far apart count twice', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ uptime: 5000 }), 0);
    f.boot(D, 100_000);
    f.reply(D, 120, 101_000);
    f.heartbeat(hb({ uptime: 10 }), 105_000);
    f.heartbeat(hb({ uptime: 4000 }), 4_100_000);
    f.boot(D, 4_200_000);
    f.reply(D, 120, 4_200_500);
    f.heartbeat(hb({ uptime: 12 }), 4_210_000);
    assert.equal(rebootsOf(f), 2);
  });

  test('the first heartbeat reveals nothing, and millis() wrapping is not a reboot', () => {
    const f = new Fleet(CFG);
    f.heartbeat(hb({ uptime: 5 }), 0);
    f.heartbeat(hb({ uptime: 4_294_960 }), 1000);
    f.heartbeat(hb({ uptime: 3 }), 10_000);
    assert.equal(rebootsOf(f), 0);
  });
});

describe('bounds', () => {
  test('a flood of made-up ids stays within the device cap and keeps the regulars', () => {
    const evicted: number[] = [];
    const f = new Fleet({ ...CFG, maxDevices: 1000 }, (_what, n) => evicted.push(n));
    for (let i = 0; i < 500; i++) {
      const id = `AAAA${i.toString(16).toUpperCase().padStart(8, '0')}`;
      f.heard(id, 0);
      f.reply(id, Number.NaN, 1);
    }
    for (let i = 0; i < 100_000; i++) f.heard(`B${i.toString(16).toUpperCase().padStart(11, '0')}`, 2);
    assert.ok(f.size <= 1000);
    assert.ok(f.get('AAAA00000000'), 'a device confirmed by a reply survives the flood');
    const c = f.count(3);
    assert.equal(c.online, 500);
    assert.equal(c.unconfirmed, f.size - 500);
    assert.equal(
      evicted.reduce((a, b) => a + b, 0),
      500 + 100_000 - f.size,
    );
  });

  test("a device taking an evicted device's place starts with every number unknown", () => {
    const f = new Fleet({ ...CFG, maxDevices: 100 });
    for (let i = 0; i < 100; i++) {
      f.heartbeat(hb({ device: `AAAA${i.toString(16).toUpperCase().padStart(8, '0')}` }), 0);
    }
    f.reply('AAAA00000000', 300, 0);
    // Long after the 100 went offline, newcomers evict them and reuse their rows.
    for (let i = 0; i < 100; i++) f.heard(`BBBB${i.toString(16).toUpperCase().padStart(8, '0')}`, 3_600_000);
    assert.equal(f.get('AAAA00000000'), undefined);
    assert.equal(f.size, 100);
    for (const dev of f.all()) {
      assert.ok(dev.id.startsWith('BBBB'));
      assert.equal(dev.firstHeard, 3_600_000);
      assert.equal(dev.lastHeard, 3_600_000);
      for (const n of [dev.battery, dev.vin, dev.uptime, dev.uptimeAt, dev.wifiLost, dev.flashCheck]) {
        assert.ok(Number.isNaN(n));
      }
      assert.ok(Number.isNaN(dev.updateIntervalMs));
      assert.ok(Number.isNaN(dev.lastBootAt));
      assert.equal(dev.charging, -1);
      assert.equal(dev.firmware, 'unknown');
    }
  });

  test('label values are capped', () => {
    const f = new Fleet({ ...CFG, maxLabelValues: 3 });
    for (let i = 0; i < 5; i++) f.heartbeat(hb({ device: `00000000000${i}`, firmware: `fw${i}` }), 0);
    assert.equal(f.get('000000000004')!.firmware, '_other');
  });
});
