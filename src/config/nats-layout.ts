/**
 * The NATS deployment of tkmprom (README "Scaling out", docs/scaling.md): the subjects the fleet's
 * MQTT traffic is partitioned onto, the partition hash, the JetStream stream and consumers, and
 * the nats-server configuration that sets it up. The keyer, the NATS source and
 * `tkmprom nats-config` all read it from here, so the three agree by construction.
 *
 * Subjects, for partition `k` of `N`, all in the one stream (`source.nats.stream`, `TKM`):
 * - `tkm.k.r.<topic>`: a one-level MQTT topic of at most 12 characters (the replies on
 *   `<deviceId>`, and `DEVICESTATUS`), mapped by nats-server itself with `partition(N, 1)` over
 *   the topic. Longer one-level topics (`STOCKPRICEUPDATE`, ...) arrive sliced into 12-character
 *   tokens, `tkm.h.r.STOCKPRICEUP.DATE`: the keyer's input.
 * - `tkm.k.LOG.<deviceId>` (and `ALERT`, `FIRMWAREUPDATE`): mapped by nats-server over the id.
 * - `tkm.k.k.<topic>`: what the keyer republished (requests, heartbeats, boots, hand-offs, other
 *   one-level topics), keyed by the payload's device id with the same hash.
 * An exporter reads `tkm.k.*.*` (four tokens: never the sliced copies), the keyers `tkm.*.r.*.>`.
 */

/** The first token of every subject tkmprom uses. */
export const NATS_SUBJECT_PREFIX = 'tkm';
/** The exporter's NATS account in the generated configuration, and the fleet's. */
export const NATS_TKM_ACCOUNT = 'TKMPROM';
export const NATS_FLEET_ACCOUNT = 'FLEET';
/** The keyers' shared durable consumer: any number of keyers share its messages. */
export const KEYER_DURABLE = 'tkmprom-keyer';
/** Header of a keyed message: its arrival at nats-server, epoch nanoseconds (the sliced copy's time). */
export const SEEN_HEADER = 'Tkm-Seen';
/** The length reply topics have, and the slice length of the import's transform. */
const SLICE = 12;
/** MQTT topic prefixes of the per-device multi-level topics (without the slash). */
export const DEVICE_TOPIC_PREFIXES = ['LOG', 'ALERT', 'FIRMWAREUPDATE'] as const;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * The partition of a token: FNV-1a 32 of its bytes modulo `n`, exactly as nats-server's
 * `partition(n, ...)` subject transform computes it (test/nats-config.test.ts holds the two to
 * the same answer). Device ids are ASCII; other strings are hashed as UTF-8.
 */
export function partitionOf(token: string, n: number): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c >= 0x80) return partitionOfBytes(Buffer.from(token, 'utf8'), n);
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return (h >>> 0) % n;
}

/** `partitionOf` over bytes. */
export function partitionOfBytes(bytes: Uint8Array, n: number): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return (h >>> 0) % n;
}

/**
 * The subjects of the stream: every four-token subject (the replies and the per-device topics as
 * the imports deliver them, the keyers' output) and the sliced copies. JetStream takes a
 * consumer's filter only within one of them, and nats-server delivers an import's messages only to
 * a subscription that covers the import's whole pattern (`tkm.*.r.*`), not one partition of it.
 */
export function streamSubjects(): string[] {
  const p = NATS_SUBJECT_PREFIX;
  return [`${p}.*.*.*`, `${p}.*.r.*.>`];
}

/** What the exporter of partition `k` reads from the stream. */
export function partitionFilter(k: number): string {
  return `${NATS_SUBJECT_PREFIX}.${k}.*.*`;
}

/** Where the keyer republishes a message of `topic` (one MQTT level) for partition `k`. */
export function keyedSubject(k: number, topic: string): string {
  return `${NATS_SUBJECT_PREFIX}.${k}.k.${topic}`;
}

/** What the keyers read: the one-level topics longer than 12 characters, sliced. */
export const KEYER_FILTER = `${NATS_SUBJECT_PREFIX}.*.r.*.>`;

/**
 * The MQTT topic of a subject of the layout, or undefined for a subject outside it. `tkm.k.r.A.B`
 * (a sliced one-level topic) gives `AB`; `tkm.k.LOG.<id>` gives `LOG/<id>`.
 */
export function topicOfSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length < 4 || parts[0] !== NATS_SUBJECT_PREFIX || parts[3] === '') return undefined;
  const kind = parts[2]!;
  if (kind === 'r') return parts.length === 4 ? parts[3] : parts.slice(3).join('');
  if (kind === 'k') return parts.length === 4 ? parts[3] : undefined;
  if ((DEVICE_TOPIC_PREFIXES as readonly string[]).includes(kind) && parts.length === 4)
    return `${kind}/${parts[3]}`;
  return undefined;
}

export interface NatsServerConfigOptions {
  partitions: number;
  listen: { host: string; port: number };
  mqttListen: { host: string; port: number };
  storeDir: string;
  /** The password of the `tkmprom` user in the TKMPROM account. */
  password: string;
  /** Name of the server (JetStream needs one; also the MQTT session's). */
  serverName?: string;
}

const quote = (s: string) => JSON.stringify(s);
const hostPort = (hp: { host: string; port: number }) =>
  hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

/** A complete nats-server (2.9 or later) configuration for a small deployment. */
export function natsServerConfig(o: NatsServerConfigOptions): string {
  const n = o.partitions;
  const p = NATS_SUBJECT_PREFIX;
  const imports = [
    `      # One-level topics: the replies on <deviceId> keep their name and go to the device's`,
    `      # partition; longer names (STOCKPRICEUPDATE, ...) arrive sliced in ${SLICE}-character`,
    `      # tokens, for the keyer to read.`,
    `      { stream: { account: ${NATS_FLEET_ACCOUNT}, subject: "*" }, to: "${p}.{{partition(${n},1)}}.r.{{SliceFromLeft(1,${SLICE})}}" }`,
    ...DEVICE_TOPIC_PREFIXES.map(
      (prefix) =>
        `      { stream: { account: ${NATS_FLEET_ACCOUNT}, subject: "${prefix}.*" }, to: "${p}.{{partition(${n},1)}}.${prefix}.{{wildcard(1)}}" }`,
    ),
  ];
  return [
    `# nats-server configuration for tkmprom, ${n} partition${n === 1 ? '' : 's'}`,
    '# (printed by `tkmprom nats-config`; README "Scaling out" explains each part).',
    '#',
    '# The fleet (devices and quote backend) speaks MQTT 3.1.1 to the mqtt listener and lands in',
    `# the ${NATS_FLEET_ACCOUNT} account, whose subjects stay as the fleet publishes them. The ${NATS_TKM_ACCOUNT}`,
    '# account imports them, partitioned by device; tkmprom (exporters and keyers) connects as',
    `# user "tkmprom", e.g. nats://tkmprom:PASSWORD@${hostPort(o.listen)}.`,
    '#',
    '# The JetStream stream TKM, created by `tkmprom keyer` and `tkmprom run` at start when missing',
    `# (file storage, limits retention), holds ${streamSubjects().join(', ')};`,
    `# exporter I reads ${partitionFilter(0).replace('.0.', '.I.')} through the durable consumer tkmprom_I, the keyers`,
    `# read ${KEYER_FILTER} through the shared durable consumer ${KEYER_DURABLE}.`,
    '',
    `server_name: ${quote(o.serverName ?? 'tkmprom-nats')}`,
    `listen: ${quote(hostPort(o.listen))}`,
    '',
    'jetstream {',
    `  store_dir: ${quote(o.storeDir)}`,
    '}',
    '',
    'mqtt {',
    `  listen: ${quote(hostPort(o.mqttListen))}`,
    '}',
    '',
    'accounts {',
    `  ${NATS_FLEET_ACCOUNT}: {`,
    '    # MQTT keeps its sessions in JetStream, so the fleet account needs it.',
    '    jetstream: enabled',
    `    users: [ { user: "fleet", password: ${quote(`fleet-${o.password}`)} } ]`,
    '    exports: [',
    '      { stream: "*" }',
    ...DEVICE_TOPIC_PREFIXES.map((prefix) => `      { stream: "${prefix}.*" }`),
    '    ]',
    '  }',
    `  ${NATS_TKM_ACCOUNT}: {`,
    '    jetstream: enabled',
    `    users: [ { user: "tkmprom", password: ${quote(o.password)} } ]`,
    '    imports: [',
    ...imports,
    '    ]',
    '  }',
    '}',
    '',
    '# MQTT clients without a user name (the fleet) belong to the fleet account.',
    'no_auth_user: "fleet"',
    '',
  ].join('\n');
}

/** How to reach the NATS server: the URL's host and port, the user and password from the URL or the settings. */
export function natsConnectOptions(nats: {
  url?: string | undefined;
  username: string;
  password?: string | undefined;
}): { servers: string; user: string; pass: string | undefined; display: string } {
  const u = new URL(nats.url ?? 'nats://127.0.0.1:4222');
  const user = u.username !== '' ? decodeURIComponent(u.username) : nats.username;
  const pass = u.password !== '' ? decodeURIComponent(u.password) : nats.password;
  const scheme = u.protocol === 'tls:' ? 'tls://' : '';
  return {
    servers: `${scheme}${u.hostname}:${u.port === '' ? '4222' : u.port}`,
    user,
    pass,
    display: `${u.protocol}//${u.hostname}:${u.port === '' ? '4222' : u.port}`,
  };
}

export interface StreamOptions {
  name: string;
  maxAgeMs: number;
  replicas: number;
}

/** The JetStream configuration of the stream (file storage, limits retention, 2 min dedupe window). */
export function streamConfig(o: StreamOptions) {
  return {
    name: o.name,
    subjects: streamSubjects(),
    retention: 'limits' as const,
    storage: 'file' as const,
    discard: 'old' as const,
    max_age: o.maxAgeMs * 1_000_000,
    num_replicas: o.replicas,
    duplicate_window: 120_000_000_000,
  };
}
