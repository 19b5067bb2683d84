/** The fields of a decoded heartbeat the fleet reads (undefined or NaN: unknown). */
export interface HeartbeatFacts {
  device: string;
  firmware: string | undefined;
  innerVersion: string | undefined;
  flashId: string | undefined;
  battery: number;
  vin: number;
  uptime: number;
  wifiLost: number;
  flashCheck: number;
  charging: number;
}

export interface FleetConfig {
  deviceTimeoutMs: number;
  maxDevices: number;
  /** How long after a reboot its boot message may still arrive (docs/fleet.md). */
  bootMessageDelayMs: number;
  /** Distinct firmware/iv/flash id label values kept before `_other`. */
  maxLabelValues: number;
  /** Devices that went offline, kept for the JSON API and the status page. */
  recentOfflineSize: number;
}

export const UNKNOWN = 'unknown';
/** The firmware's `millis()/1000` wraps here; a drop from near it is not a reboot. */
const UPTIME_WRAP_FROM = 4_294_000;

const UNKNOWN_VERSION_KEY = `${UNKNOWN}\u0000${UNKNOWN}\u0000${UNKNOWN}`;
/** Distinct version keys shared between devices; past this many, a device keeps its own copy. */
const MAX_SHARED_VERSION_KEYS = 4096;

export class Device {
  firstHeard: number;
  lastHeard: number;
  messages = 0;
  firmware = UNKNOWN;
  innerVersion = UNKNOWN;
  flashId = UNKNOWN;
  /** `firmware\u0000iv\u0000flashId`, kept in step so counting the fleet allocates nothing per device. */
  versionKey = UNKNOWN_VERSION_KEY;
  battery = Number.NaN;
  vin = Number.NaN;
  /** 1 charging, 0 not charging, -1 unknown. */
  charging = -1;
  uptime = Number.NaN;
  uptimeAt = Number.NaN;
  wifiLost = Number.NaN;
  flashCheck = Number.NaN;
  updateIntervalMs = Number.NaN;
  reboots = 0;
  lastBootAt = Number.NaN;
  bootPending = false;
  /** When the boot message that was counted arrived. */
  countedBootMessageAt = Number.NaN;
  /** When the reboot counted from an uptime drop happened (heartbeat time minus uptime). */
  countedUptimeBootAt = Number.NaN;
  online = true;
  constructor(
    readonly id: string,
    now: number,
  ) {
    this.firstHeard = now;
    this.lastHeard = now;
  }
}

export interface OfflineEvent {
  device: string;
  at: number;
  lastHeard: number;
  firmware: string;
}

export interface FleetCounts {
  online: number;
  offline: number;
  /** Key: `firmware\u0000iv\u0000flashId`. */
  byVersion: Map<string, number>;
  byCharging: { charging: number; not_charging: number; unknown: number };
  /** Index 0..9 for `0-9` .. `90-100`, 10 for unknown. */
  byBattery: number[];
}

export type FleetEviction = 'device' | 'label_value';

/**
 * The live picture of the fleet: one record per device heard, bounded by `maxDevices`. Online
 * state is derived from the last time a device was heard, at the time of asking.
 */
export class Fleet {
  private readonly devices = new Map<string, Device>();
  private readonly labelValues = new Set<string>();
  private readonly rebootsByFirmware = new Map<string, number>();
  /** Most of a fleet shares a handful of versions: one key string each, not one per device. */
  private readonly versionKeys = new Map<string, string>();
  private readonly recentOffline: OfflineEvent[] = [];
  private readonly onEvict: (what: FleetEviction, n: number) => void;

  constructor(
    private readonly cfg: FleetConfig,
    onEvict: (what: FleetEviction, n: number) => void = () => {},
  ) {
    this.onEvict = onEvict;
  }

  get size(): number {
    return this.devices.size;
  }

  get(id: string): Device | undefined {
    return this.devices.get(id);
  }

  all(): IterableIterator<Device> {
    return this.devices.values();
  }

  reboots(): ReadonlyMap<string, number> {
    return this.rebootsByFirmware;
  }

  offlineEvents(): readonly OfflineEvent[] {
    return this.recentOffline;
  }

  /** Any message naming the device: it is heard now. */
  heard(id: string, now: number): Device {
    let dev = this.devices.get(id);
    if (dev === undefined) {
      if (this.devices.size >= this.cfg.maxDevices) this.makeRoom(now);
      dev = new Device(id, now);
      this.devices.set(id, dev);
    }
    dev.lastHeard = now;
    dev.messages++;
    if (!dev.online) dev.online = true;
    return dev;
  }

  heartbeat(h: HeartbeatFacts, now: number): void {
    const dev = this.heard(h.device, now);
    const fw =
      h.firmware !== undefined && h.firmware !== dev.firmware ? this.label(h.firmware) : dev.firmware;
    const iv =
      h.innerVersion !== undefined && h.innerVersion !== dev.innerVersion
        ? this.label(h.innerVersion)
        : dev.innerVersion;
    const flash = h.flashId !== undefined && h.flashId !== dev.flashId ? this.label(h.flashId) : dev.flashId;
    if (fw !== dev.firmware || iv !== dev.innerVersion || flash !== dev.flashId) {
      dev.firmware = fw;
      dev.innerVersion = iv;
      dev.flashId = flash;
      dev.versionKey = this.versionKey(`${fw}\u0000${iv}\u0000${flash}`);
    }
    if (!Number.isNaN(h.battery)) dev.battery = h.battery;
    if (!Number.isNaN(h.vin)) dev.vin = h.vin;
    if (h.charging >= 0) dev.charging = h.charging;
    if (!Number.isNaN(h.wifiLost)) dev.wifiLost = h.wifiLost;
    if (!Number.isNaN(h.flashCheck)) dev.flashCheck = h.flashCheck;
    if (!Number.isNaN(h.uptime)) {
      if (!Number.isNaN(dev.uptime) && h.uptime < dev.uptime && dev.uptime < UPTIME_WRAP_FROM) {
        const bootedAt = now - h.uptime * 1000;
        const msg = dev.countedBootMessageAt;
        const describedByMessage = msg >= bootedAt - 2000 && msg <= bootedAt + this.cfg.bootMessageDelayMs;
        if (!describedByMessage) {
          dev.countedUptimeBootAt = bootedAt;
          this.countReboot(dev, bootedAt);
        }
      }
      dev.uptime = h.uptime;
      dev.uptimeAt = now;
    }
  }

  boot(id: string, now: number): Device {
    const dev = this.heard(id, now);
    if (dev.bootPending) return dev;
    dev.bootPending = true;
    const fromUptime = dev.countedUptimeBootAt;
    if (fromUptime >= now - this.cfg.bootMessageDelayMs && fromUptime <= now + 2000) return dev;
    dev.countedBootMessageAt = now;
    this.countReboot(dev, now);
    return dev;
  }

  /** A reply on the device's topic: it ends a boot and may state the update interval. */
  reply(id: string, updateIntervalSeconds: number, now: number): Device {
    const dev = this.heard(id, now);
    dev.bootPending = false;
    if (updateIntervalSeconds > 0) dev.updateIntervalMs = updateIntervalSeconds * 1000;
    return dev;
  }

  /** The silence after which a device is offline: max(deviceTimeout, 2.5 x its update interval). */
  offlineAfterMs(dev: Device): number {
    const interval = dev.updateIntervalMs;
    return interval > 0 ? Math.max(this.cfg.deviceTimeoutMs, 2.5 * interval) : this.cfg.deviceTimeoutMs;
  }

  isOnline(dev: Device, now: number): boolean {
    return now - dev.lastHeard < this.offlineAfterMs(dev);
  }

  /**
   * Counts the fleet as it is at `now`, and records the devices that went offline since the
   * last count. Runs at each scrape and snapshot: O(devices), no allocation per device.
   */
  count(now: number, out: FleetCounts = emptyCounts()): FleetCounts {
    out.online = 0;
    out.offline = 0;
    out.byVersion.clear();
    out.byCharging.charging = 0;
    out.byCharging.not_charging = 0;
    out.byCharging.unknown = 0;
    out.byBattery.fill(0);
    for (const dev of this.devices.values()) {
      if (!this.isOnline(dev, now)) {
        out.offline++;
        if (dev.online) {
          dev.online = false;
          this.recordOffline(dev, now);
        }
        continue;
      }
      out.online++;
      const key = dev.versionKey;
      out.byVersion.set(key, (out.byVersion.get(key) ?? 0) + 1);
      if (dev.charging === 1) out.byCharging.charging++;
      else if (dev.charging === 0) out.byCharging.not_charging++;
      else out.byCharging.unknown++;
      out.byBattery[batteryBand(dev.battery)]!++;
    }
    return out;
  }

  private recordOffline(dev: Device, now: number): void {
    const list = this.recentOffline;
    if (list.length >= this.cfg.recentOfflineSize) list.shift();
    const limit = this.offlineAfterMs(dev);
    list.push({
      device: dev.id,
      at: Math.min(now, dev.lastHeard + limit),
      lastHeard: dev.lastHeard,
      firmware: dev.firmware,
    });
  }

  private countReboot(dev: Device, at: number): void {
    dev.reboots++;
    dev.lastBootAt = at;
    this.rebootsByFirmware.set(dev.firmware, (this.rebootsByFirmware.get(dev.firmware) ?? 0) + 1);
  }

  private versionKey(key: string): string {
    const shared = this.versionKeys.get(key);
    if (shared !== undefined) return shared;
    if (this.versionKeys.size >= MAX_SHARED_VERSION_KEYS) return key;
    this.versionKeys.set(key, key);
    return key;
  }

  /** Bounds the label values a flood of garbage heartbeats could otherwise create. */
  private label(value: string): string {
    if (this.labelValues.has(value)) return value;
    if (this.labelValues.size >= this.cfg.maxLabelValues) {
      this.onEvict('label_value', 1);
      return '_other';
    }
    this.labelValues.add(value);
    return value;
  }

  /**
   * Frees room for a new device: first every offline device, else the oldest devices heard only
   * once (the shape of a flood of made-up ids), else the oldest. Frees 1 % at a time, so the scan
   * is paid once per many new devices.
   */
  private makeRoom(now: number): void {
    const target = Math.max(1, Math.floor(this.cfg.maxDevices / 100));
    let freed = 0;
    for (const [id, dev] of this.devices) {
      if (!this.isOnline(dev, now)) {
        this.devices.delete(id);
        freed++;
      }
    }
    if (freed < target) {
      for (const [id, dev] of this.devices) {
        if (freed >= target) break;
        if (dev.messages <= 1) {
          this.devices.delete(id);
          freed++;
        }
      }
    }
    if (freed < target) {
      for (const id of this.devices.keys()) {
        if (freed >= target) break;
        this.devices.delete(id);
        freed++;
      }
    }
    this.onEvict('device', freed);
  }
}

export function emptyCounts(): FleetCounts {
  return {
    online: 0,
    offline: 0,
    byVersion: new Map(),
    byCharging: { charging: 0, not_charging: 0, unknown: 0 },
    byBattery: new Array(11).fill(0),
  };
}

export const BATTERY_BANDS = [
  '0-9',
  '10-19',
  '20-29',
  '30-39',
  '40-49',
  '50-59',
  '60-69',
  '70-79',
  '80-89',
  '90-100',
  'unknown',
] as const;

export function batteryBand(battery: number): number {
  if (Number.isNaN(battery)) return 10;
  return battery >= 90 ? 9 : Math.floor(battery / 10);
}
