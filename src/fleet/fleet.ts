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

// The numeric state of a device, one row of doubles per device in a table the fleet owns (NaN: unknown).
const FIRST_HEARD = 0;
const LAST_HEARD = 1;
const BATTERY = 2;
const VIN = 3;
const UPTIME = 4;
const UPTIME_AT = 5;
const WIFI_LOST = 6;
const FLASH_CHECK = 7;
const UPDATE_INTERVAL_MS = 8;
const LAST_BOOT_AT = 9;
const COUNTED_BOOT_MESSAGE_AT = 10;
const COUNTED_UPTIME_BOOT_AT = 11;
const FIELDS = 12;

/**
 * Rows of device numbers in one Float64Array. As object fields, V8 keeps each of these doubles in a
 * box of its own: twelve boxes were half of what a device cost (about 200 of 400 bytes). Rows of
 * evicted devices are reused.
 */
class DeviceRows {
  data = new Float64Array(FIELDS * 64);
  private used = 0;
  private readonly free: number[] = [];

  /** A cleared row's offset into `data`, every field unknown but the first and last time heard. */
  alloc(now: number): number {
    const row = (this.free.pop() ?? this.used++) * FIELDS;
    if (row + FIELDS > this.data.length) {
      // Half again, not double: the slack is paid for devices the fleet may never have.
      const next = new Float64Array(Math.ceil((this.data.length * 1.5) / FIELDS) * FIELDS);
      next.set(this.data);
      this.data = next;
    }
    this.data.fill(Number.NaN, row, row + FIELDS);
    this.data[row + FIRST_HEARD] = now;
    this.data[row + LAST_HEARD] = now;
    return row;
  }

  release(row: number): void {
    this.free.push(row / FIELDS);
  }
}

/**
 * One device as the fleet knows it. Its numbers live in the fleet's row table: a handle to a
 * device the fleet has evicted must not be read.
 */
export class Device {
  messages = 0;
  firmware = UNKNOWN;
  innerVersion = UNKNOWN;
  flashId = UNKNOWN;
  /** `firmware\u0000iv\u0000flashId`, kept in step so counting the fleet allocates nothing per device. */
  versionKey = UNKNOWN_VERSION_KEY;
  /** 1 charging, 0 not charging, -1 unknown. */
  charging = -1;
  reboots = 0;
  bootPending = false;
  online = true;
  /**
   * Heard in a heartbeat or a reply on its own topic. Anyone who can publish can name any id in a
   * request, so an id heard only in requests (and boots) is no device yet: it is not online.
   */
  confirmed = false;

  /** @internal */
  constructor(
    readonly id: string,
    private readonly rows: DeviceRows,
    /** @internal */
    readonly row: number,
  ) {}

  get firstHeard(): number {
    return this.rows.data[this.row + FIRST_HEARD]!;
  }
  set firstHeard(v: number) {
    this.rows.data[this.row + FIRST_HEARD] = v;
  }
  get lastHeard(): number {
    return this.rows.data[this.row + LAST_HEARD]!;
  }
  set lastHeard(v: number) {
    this.rows.data[this.row + LAST_HEARD] = v;
  }
  /** Smoothed battery level, 0 to 100 %. */
  get battery(): number {
    return this.rows.data[this.row + BATTERY]!;
  }
  set battery(v: number) {
    this.rows.data[this.row + BATTERY] = v;
  }
  /** Raw supply ADC reading. */
  get vin(): number {
    return this.rows.data[this.row + VIN]!;
  }
  set vin(v: number) {
    this.rows.data[this.row + VIN] = v;
  }
  /** Seconds since boot, as last reported. */
  get uptime(): number {
    return this.rows.data[this.row + UPTIME]!;
  }
  set uptime(v: number) {
    this.rows.data[this.row + UPTIME] = v;
  }
  /** When `uptime` was reported. */
  get uptimeAt(): number {
    return this.rows.data[this.row + UPTIME_AT]!;
  }
  set uptimeAt(v: number) {
    this.rows.data[this.row + UPTIME_AT] = v;
  }
  get wifiLost(): number {
    return this.rows.data[this.row + WIFI_LOST]!;
  }
  set wifiLost(v: number) {
    this.rows.data[this.row + WIFI_LOST] = v;
  }
  get flashCheck(): number {
    return this.rows.data[this.row + FLASH_CHECK]!;
  }
  set flashCheck(v: number) {
    this.rows.data[this.row + FLASH_CHECK] = v;
  }
  get updateIntervalMs(): number {
    return this.rows.data[this.row + UPDATE_INTERVAL_MS]!;
  }
  set updateIntervalMs(v: number) {
    this.rows.data[this.row + UPDATE_INTERVAL_MS] = v;
  }
  get lastBootAt(): number {
    return this.rows.data[this.row + LAST_BOOT_AT]!;
  }
  set lastBootAt(v: number) {
    this.rows.data[this.row + LAST_BOOT_AT] = v;
  }
  /** When the boot message that was counted arrived. */
  get countedBootMessageAt(): number {
    return this.rows.data[this.row + COUNTED_BOOT_MESSAGE_AT]!;
  }
  set countedBootMessageAt(v: number) {
    this.rows.data[this.row + COUNTED_BOOT_MESSAGE_AT] = v;
  }
  /** When the reboot counted from an uptime drop happened (heartbeat time minus uptime). */
  get countedUptimeBootAt(): number {
    return this.rows.data[this.row + COUNTED_UPTIME_BOOT_AT]!;
  }
  set countedUptimeBootAt(v: number) {
    this.rows.data[this.row + COUNTED_UPTIME_BOOT_AT] = v;
  }
}

export interface OfflineEvent {
  device: string;
  at: number;
  lastHeard: number;
  firmware: string;
}

/** Online devices of one firmware version. */
export interface VersionCount {
  firmware: string;
  innerVersion: string;
  flashId: string;
  online: number;
}

export interface FleetCounts {
  online: number;
  offline: number;
  /** Ids heard only in requests or boot messages (docs/fleet.md): neither online nor offline. */
  unconfirmed: number;
  /**
   * Online devices by version, one entry per version with at least one, in the order first met.
   * The entries are the counts' own: the next count into the same object rewrites them.
   */
  versions: VersionCount[];
  /** The same tally under the fleet's own key for a version; read `versions` rather than decode it. */
  byVersion: Map<string, number>;
  byCharging: { charging: number; not_charging: number; unknown: number };
  /** Index 0..9 for `0-9` .. `90-100`, 10 for unknown. */
  byBattery: number[];
}

/** A device in a state snapshot; `numbers` is its row of the table, as base64. */
interface DeviceState {
  id: string;
  firmware: string;
  innerVersion: string;
  flashId: string;
  charging: number;
  bootPending: boolean;
  confirmed: boolean;
  online: boolean;
  messages: number;
  numbers: string;
}

// NaN (unknown) survives base64, not JSON.
function encodeRow(row: Float64Array): string {
  return Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
}

function decodeRow(text: string): Float64Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== FIELDS * 8)
    throw new RangeError(`device numbers: expected ${FIELDS * 8} bytes, got ${bytes.length}`);
  const row = new Float64Array(FIELDS);
  new Uint8Array(row.buffer).set(bytes);
  return row;
}

export type FleetEviction = 'device' | 'label_value';

/**
 * The live picture of the fleet: one record per device heard, bounded by `maxDevices`. Online
 * state is derived from the last time a device was heard, at the time of asking.
 */
export class Fleet {
  private readonly devices = new Map<string, Device>();
  private readonly rows = new DeviceRows();
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

  /** Puts back reboot counts saved with the state, for a restart whose counters continue. */
  restoreReboots(byFirmware: unknown): void {
    if (!Array.isArray(byFirmware)) throw new TypeError('reboots: expected [firmware, count] pairs');
    for (const [fw, n] of byFirmware as [unknown, unknown][]) {
      if (typeof fw !== 'string' || typeof n !== 'number' || !(n >= 0))
        throw new TypeError('reboots: expected [firmware, count] pairs');
      const label = this.label(fw);
      this.rebootsByFirmware.set(label, (this.rebootsByFirmware.get(label) ?? 0) + n);
    }
  }

  offlineEvents(): readonly OfflineEvent[] {
    return this.recentOffline;
  }

  /**
   * The fleet's state for a snapshot, a record a device: times stay in the exporter's monotonic
   * frame, which a restored exporter continues. Reboot counts restart at zero with the process,
   * so they are not kept here (an exporter whose counters continue saves `reboots()` itself).
   */
  *stateRecords(): Generator<readonly [string, unknown]> {
    for (const dev of this.devices.values()) {
      const state: DeviceState = {
        id: dev.id,
        firmware: dev.firmware,
        innerVersion: dev.innerVersion,
        flashId: dev.flashId,
        charging: dev.charging,
        bootPending: dev.bootPending,
        confirmed: dev.confirmed,
        online: dev.online,
        messages: dev.messages,
        numbers: encodeRow(this.rows.data.subarray(dev.row, dev.row + FIELDS)),
      };
      yield ['device', state];
    }
    yield ['offline', this.recentOffline];
  }

  /** Takes back one record of `stateRecords`; throws on a record it cannot read. */
  restoreRecord(section: string, value: unknown): void {
    if (section === 'offline') {
      if (!Array.isArray(value)) throw new TypeError('offline: expected a list of events');
      this.recentOffline.length = 0;
      for (const e of value.slice(-this.cfg.recentOfflineSize) as OfflineEvent[]) this.recentOffline.push(e);
      return;
    }
    const d = value as DeviceState;
    if (typeof d?.id !== 'string' || typeof d.numbers !== 'string')
      throw new TypeError('device: expected an id and its numbers');
    const numbers = decodeRow(d.numbers);
    if (this.devices.has(d.id)) return;
    if (this.devices.size >= this.cfg.maxDevices) this.makeRoom(numbers[LAST_HEARD]!);
    const dev = new Device(d.id, this.rows, this.rows.alloc(numbers[FIRST_HEARD]!));
    this.rows.data.set(numbers, dev.row);
    dev.firmware = this.label(String(d.firmware));
    dev.innerVersion = this.label(String(d.innerVersion));
    dev.flashId = this.label(String(d.flashId));
    dev.versionKey = this.versionKey(`${dev.firmware}\u0000${dev.innerVersion}\u0000${dev.flashId}`);
    dev.charging = d.charging === 0 || d.charging === 1 ? d.charging : -1;
    dev.bootPending = d.bootPending === true;
    dev.confirmed = d.confirmed === true;
    dev.online = d.online === true;
    dev.messages = Number(d.messages) || 0;
    this.devices.set(d.id, dev);
  }

  /** Any message naming the device: it is heard now. */
  heard(id: string, now: number): Device {
    let dev = this.devices.get(id);
    if (dev === undefined) {
      if (this.devices.size >= this.cfg.maxDevices) this.makeRoom(now);
      dev = new Device(id, this.rows, this.rows.alloc(now));
      this.devices.set(id, dev);
    }
    dev.lastHeard = now;
    dev.messages++;
    if (!dev.online) dev.online = true;
    return dev;
  }

  heartbeat(h: HeartbeatFacts, now: number): void {
    const dev = this.heard(h.device, now);
    dev.confirmed = true;
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
    dev.confirmed = true;
    dev.bootPending = false;
    if (updateIntervalSeconds > 0) dev.updateIntervalMs = updateIntervalSeconds * 1000;
    return dev;
  }

  /** The silence after which a device is offline: max(deviceTimeout, 2.5 x its update interval). */
  offlineAfterMs(dev: Device): number {
    const interval = dev.updateIntervalMs;
    return interval > 0 ? Math.max(this.cfg.deviceTimeoutMs, 2.5 * interval) : this.cfg.deviceTimeoutMs;
  }

  /** Online, offline, or not a device yet (heard only in requests and boot messages). */
  status(dev: Device, now: number): 'online' | 'offline' | 'unconfirmed' {
    if (!dev.confirmed) return 'unconfirmed';
    return this.isOnline(dev, now) ? 'online' : 'offline';
  }

  isOnline(dev: Device, now: number): boolean {
    return dev.confirmed && now - dev.lastHeard < this.offlineAfterMs(dev);
  }

  /**
   * Counts the fleet as it is at `now`, and records the devices that went offline since the
   * last count. Runs at each scrape and snapshot: O(devices), no allocation per device.
   */
  count(now: number, out: FleetCounts = emptyCounts()): FleetCounts {
    out.online = 0;
    out.offline = 0;
    out.unconfirmed = 0;
    out.byVersion.clear();
    let versions = 0;
    out.byCharging.charging = 0;
    out.byCharging.not_charging = 0;
    out.byCharging.unknown = 0;
    out.byBattery.fill(0);
    for (const dev of this.devices.values()) {
      if (!dev.confirmed) {
        out.unconfirmed++;
        continue;
      }
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
      const n = out.byVersion.get(key);
      if (n === undefined) {
        out.byVersion.set(key, 1);
        versionEntry(out.versions, versions++, dev);
      } else out.byVersion.set(key, n + 1);
      if (dev.charging === 1) out.byCharging.charging++;
      else if (dev.charging === 0) out.byCharging.not_charging++;
      else out.byCharging.unknown++;
      out.byBattery[batteryBand(dev.battery)]!++;
    }
    out.versions.length = versions;
    for (const v of out.versions as VersionTally[]) v.online = out.byVersion.get(v.key)!;
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

  private forget(dev: Device): void {
    this.devices.delete(dev.id);
    this.rows.release(dev.row);
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
   * Frees room for a new device: first every offline device and every id never confirmed (the
   * shape of a flood of made-up ids), else the oldest devices heard only once, else the oldest.
   * Frees 1 % at a time, so the scan is paid once per many new devices.
   */
  private makeRoom(now: number): void {
    const target = Math.max(1, Math.floor(this.cfg.maxDevices / 100));
    let freed = 0;
    for (const dev of this.devices.values()) {
      if (!this.isOnline(dev, now)) {
        this.forget(dev);
        freed++;
      }
    }
    if (freed < target) {
      for (const dev of this.devices.values()) {
        if (freed >= target) break;
        if (dev.messages <= 1) {
          this.forget(dev);
          freed++;
        }
      }
    }
    if (freed < target) {
      for (const dev of this.devices.values()) {
        if (freed >= target) break;
        this.forget(dev);
        freed++;
      }
    }
    this.onEvict('device', freed);
  }
}

/** An entry of `FleetCounts.versions`, with the key it is tallied under. */
interface VersionTally extends VersionCount {
  key: string;
}

/** Entry `i` of `list` set to the device's version, reusing the entry a previous count left there. */
function versionEntry(list: VersionCount[], i: number, dev: Device): void {
  const v = list[i] as VersionTally | undefined;
  if (v === undefined) {
    const fresh: VersionTally = {
      firmware: dev.firmware,
      innerVersion: dev.innerVersion,
      flashId: dev.flashId,
      online: 0,
      key: dev.versionKey,
    };
    list.push(fresh);
    return;
  }
  v.firmware = dev.firmware;
  v.innerVersion = dev.innerVersion;
  v.flashId = dev.flashId;
  v.key = dev.versionKey;
}

export function emptyCounts(): FleetCounts {
  return {
    online: 0,
    offline: 0,
    unconfirmed: 0,
    versions: [],
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
