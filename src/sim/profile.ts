import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ErrorCodes, TkmpromError } from '../errors.js';
import { deriveSeed, Rng, WeightedSampler } from './rng.js';
import { EXTRA_SYMBOLS } from './streams.js';

const NumberCounts = z.array(z.object({ value: z.number(), count: z.number().nonnegative() })).min(1);
const TextCounts = z.array(z.object({ value: z.string(), count: z.number().nonnegative() })).min(1);

export const FleetProfileSchema = z.object({
  about: z.string().optional(),
  devices: z.number().int().positive(),
  device_configs: z.number().int().nonnegative(),
  playlist_share: z.number().min(0).max(1),
  firmware_versions: TextCounts,
  battery_percent: NumberCounts,
  vin_adc_raw_bucket250: NumberCounts,
  boot_count: NumberCounts.optional(),
  single_update_interval_s: NumberCounts,
  playlist_update_interval_s: NumberCounts,
  playlist_cycle_interval_s: NumberCounts,
  playlist_size: NumberCounts,
  currency_display: TextCounts,
  symbols_by_popularity: z
    .array(z.object({ symbol: z.string().min(1), devices: z.number().positive() }))
    .min(1),
});

export type FleetProfile = z.infer<typeof FleetProfileSchema>;

/** Finds data/fleet-profile.json above this file, from the sources as from a build. */
export function defaultProfilePath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'data', 'fleet-profile.json');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new TkmpromError(ErrorCodes.PROFILE_INVALID, 'cannot find data/fleet-profile.json above the package');
}

export function parseProfile(value: unknown, source = 'profile'): FleetProfile {
  const result = FleetProfileSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new TkmpromError(ErrorCodes.PROFILE_INVALID, `${source}: ${issues}`);
  }
  return result.data;
}

let cachedDefault: FleetProfile | undefined;

/** Reads and validates a fleet profile; without a path, the package's own (read once). */
export function loadProfile(path?: string): FleetProfile {
  if (path === undefined && cachedDefault) return cachedDefault;
  const file = path ?? defaultProfilePath();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TkmpromError(ErrorCodes.PROFILE_INVALID, `${file}: cannot read the profile`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TkmpromError(ErrorCodes.PROFILE_INVALID, `${file}: not JSON (${(err as Error).message})`);
  }
  const profile = parseProfile(json, file);
  if (path === undefined) cachedDefault = profile;
  return profile;
}

/** Every symbol a fleet built from this profile can show. */
export function profileSymbols(profile: FleetProfile): string[] {
  return [...profile.symbols_by_popularity.map((s) => s.symbol), ...EXTRA_SYMBOLS.map((s) => s.symbol)];
}

export type DeviceKind = 'single' | 'playlist' | 'page' | 'noconfig' | 'unregistered';

/** Which heartbeat fields a firmware sends; an absent field stays absent, it is never zero. */
export interface HeartbeatFields {
  iv: boolean;
  xmc: boolean;
  flashID: boolean;
  wflct: boolean;
  vin: boolean;
}

export interface DeviceSpec {
  id: string;
  kind: DeviceKind;
  /** single: its symbol; playlist: the playlist in order; otherwise empty. */
  symbols: string[];
  updateIntervalS: number;
  /** Seconds each playlist symbol stays on screen; 0 for other kinds. */
  cycleIntervalS: number;
  firmware: string;
  fields: HeartbeatFields;
  iv: string;
  flashId: string;
  xmc: string;
  battery: number;
  vin: number;
  currency: string;
  ledBrightness: number;
  alertEnabled: boolean;
  /** Seconds since boot when the run starts, for a device already running. */
  uptimeS: number;
  /** The device boots during the first seconds of the run instead of already running. */
  bootsAtStart: boolean;
}

/** Share of configured devices in page mode, which the profile does not count separately. */
export const PAGE_MODE_SHARE = 0.01;
/** Share of devices booting as the run starts: they show the boot flow at once. */
export const BOOT_AT_START_SHARE = 0.03;
/** Share of devices whose uptime crosses the firmware's millis() wrap early in the run. */
export const WRAP_SHARE = 0.0005;
const MILLIS_WRAP_S = 4_294_967;

const OUIS = [
  '142B2F',
  '4022D8',
  'EC6260',
  '30AEA4',
  '240AC4',
  '7C9EBD',
  'A4CF12',
  'C8C9A3',
  '94B97E',
  '08B61F',
];
const FLASH_IDS = ['C84017', 'EF4018', '204017', 'C84016'];

export function firmwareFields(fw: string): HeartbeatFields {
  const p = /^(\d+)p/.exec(fw);
  if (p) {
    const n = Number(p[1]);
    if (n >= 44) return { iv: true, xmc: true, flashID: true, wflct: true, vin: true };
    if (n >= 36) return { iv: true, xmc: false, flashID: true, wflct: true, vin: true };
    if (n >= 30) return { iv: true, xmc: false, flashID: false, wflct: true, vin: true };
    return { iv: false, xmc: false, flashID: false, wflct: false, vin: true };
  }
  if (fw === '1.81') return { iv: false, xmc: false, flashID: false, wflct: true, vin: true };
  if (fw === '5' || fw === '7') return { iv: false, xmc: false, flashID: false, wflct: false, vin: true };
  return { iv: false, xmc: false, flashID: false, wflct: false, vin: false };
}

function innerVersion(fw: string): string {
  const n = Number(/^(\d+)p/.exec(fw)?.[1] ?? 0);
  return n >= 44 ? 'elec+HB' : n >= 36 ? 'elec' : 'HB';
}

function counts<T>(rows: ReadonlyArray<{ value: T; count: number }>): WeightedSampler<T> {
  return new WeightedSampler(
    rows.map((r) => r.value),
    rows.map((r) => r.count),
  );
}

/**
 * Draws a fleet of `n` devices from the profile's distributions. The same profile, size and seed
 * give the same fleet, device ids included.
 */
export function buildFleet(profile: FleetProfile, n: number, seed: number): DeviceSpec[] {
  const rng = new Rng(deriveSeed(seed, 'fleet'));
  const symbolRows = [...profile.symbols_by_popularity, ...EXTRA_SYMBOLS];
  const symbols = new WeightedSampler(
    symbolRows.map((s) => s.symbol),
    symbolRows.map((s) => s.devices),
  );
  const firmware = counts(profile.firmware_versions);
  const battery = counts(profile.battery_percent);
  const vin = counts(profile.vin_adc_raw_bucket250);
  const singleInterval = counts(profile.single_update_interval_s);
  const playlistInterval = counts(profile.playlist_update_interval_s);
  const cycleInterval = counts(profile.playlist_cycle_interval_s);
  const playlistSize = counts(profile.playlist_size);
  const currency = counts(profile.currency_display);
  const configuredShare = Math.min(1, profile.device_configs / profile.devices);

  const ids = new Set<string>();
  const fleet: DeviceSpec[] = [];
  for (let i = 0; i < n; i++) {
    let id: string;
    do id = OUIS[rng.below(OUIS.length)]! + rng.hex(6);
    while (ids.has(id));
    ids.add(id);

    let kind: DeviceKind;
    if (!rng.chance(configuredShare)) kind = rng.chance(0.6) ? 'noconfig' : 'unregistered';
    else if (rng.chance(PAGE_MODE_SHARE)) kind = 'page';
    else if (rng.chance(profile.playlist_share)) kind = 'playlist';
    else kind = 'single';

    const list: string[] = [];
    let updateIntervalS: number;
    let cycleIntervalS = 0;
    if (kind === 'playlist') {
      const size = Math.max(2, Math.min(10, playlistSize.sample(rng)));
      for (let attempt = 0; list.length < size && attempt < 200; attempt++) {
        const s = symbols.sample(rng);
        if (!list.includes(s)) list.push(s);
      }
      updateIntervalS = playlistInterval.sample(rng);
      cycleIntervalS = cycleInterval.sample(rng);
    } else {
      if (kind === 'single') list.push(symbols.sample(rng));
      updateIntervalS = kind === 'single' || kind === 'page' ? singleInterval.sample(rng) : 300;
    }

    const fw = firmware.sample(rng);
    const fields = firmwareFields(fw);
    const xmcDraw = rng.float();
    const cur = currency.sample(rng);
    const bootsAtStart = rng.chance(BOOT_AT_START_SHARE);
    const uptimeS = rng.chance(WRAP_SHARE)
      ? MILLIS_WRAP_S - Math.floor(rng.between(30, 900))
      : Math.floor(rng.between(600, 30 * 86_400));
    fleet.push({
      id,
      kind,
      symbols: list,
      updateIntervalS,
      cycleIntervalS,
      firmware: fw,
      fields,
      iv: innerVersion(fw),
      flashId: FLASH_IDS[rng.below(FLASH_IDS.length)]!,
      xmc: xmcDraw < 0.9 ? '0' : xmcDraw < 0.98 ? '-2' : '1',
      battery: Math.min(100, battery.sample(rng) + rng.float()),
      vin: Math.min(4095, Math.floor(vin.sample(rng) + rng.between(0, 250))),
      currency: cur === 'none' ? '' : cur.trim(),
      ledBrightness: [0, 25, 50, 75, 100][rng.below(5)]!,
      alertEnabled: rng.chance(0.15),
      uptimeS,
      bootsAtStart,
    });
  }
  return fleet;
}
