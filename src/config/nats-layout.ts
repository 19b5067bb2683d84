/**
 * The NATS deployment of tkmprom (README "Scaling out", docs/scaling.md): the subjects the fleet's
 * MQTT traffic is partitioned onto, the partition hash, the JetStream streams, and the
 * nats-server configuration that sets it up. The keyer, the NATS source and `tkmprom nats-config`
 * all read it from here, so the three agree by construction.
 *
 * Subjects, for partition `k` of `N`:
 * - `tkm.k.r.<topic>`: a one-level MQTT topic of exactly 12 characters (the replies on
 *   `<deviceId>`, and `DEVICESTATUS`), mapped by nats-server itself with `partition(N, 1)` over
 *   the topic. Longer one-level topics arrive sliced into 12-character tokens
 *   (`tkm.k.r.STOCKPRICEUP.DATE`): no stream holds those; the keyer reads them.
 * - `tkm.k.l.<PREFIX>.<deviceId>`: `LOG/<id>`, `ALERT/<id>`, `FIRMWAREUPDATE/<id>`, mapped by
 *   nats-server over the device id.
 * - `tkm.k.k.<topic>`: what the keyer republished (requests, heartbeats, boots, hand-offs, other
 *   one-level topics), keyed by the payload's device id with the same hash.
 */

/** The first token of every subject tkmprom uses. */
export const NATS_SUBJECT_PREFIX = 'tkm';
/** The exporter's NATS account in the generated configuration, and the fleet's. */
export const NATS_TKM_ACCOUNT = 'TKMPROM';
export const NATS_FLEET_ACCOUNT = 'FLEET';
/** The keyer's queue group: any number of keyers share the work. */
export const KEYER_QUEUE_GROUP = 'tkmprom-keyer';
/** Header the keyer stamps each message with: wall-clock milliseconds when it read it. */
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

/** The subjects the exporter of partition `k` reads, as its stream captures them. */
export function partitionSubjects(k: number): string[] {
  const p = `${NATS_SUBJECT_PREFIX}.${k}`;
  return [`${p}.r.*`, `${p}.k.*`, `${p}.l.*.*`];
}

/** Where the keyer republishes a message of `topic` (one MQTT level) for partition `k`. */
export function keyedSubject(k: number, topic: string): string {
  return `${NATS_SUBJECT_PREFIX}.${k}.k.${topic}`;
}

/** What the keyer subscribes to: the one-level topics longer than 12 characters, sliced. */
export const KEYER_SUBJECT = `${NATS_SUBJECT_PREFIX}.*.r.*.>`;

/** The stream that holds partition `k`'s messages. */
export function partitionStreamName(prefix: string, k: number): string {
  return `${prefix}_${k}`;
}

/**
 * The MQTT topic of a subject of the layout, or undefined for a subject outside it. `tkm.k.r.A.B`
 * (a sliced one-level topic) gives `AB`; `tkm.k.l.LOG.<id>` gives `LOG/<id>`.
 */
export function topicOfSubject(subject: string): string | undefined {
  // "tkm." + partition digits + "." + kind + "."
  if (!subject.startsWith(`${NATS_SUBJECT_PREFIX}.`)) return undefined;
  const afterPartition = subject.indexOf('.', NATS_SUBJECT_PREFIX.length + 1);
  if (afterPartition < 0 || subject.charCodeAt(afterPartition + 2) !== 0x2e) return undefined;
  const kind = subject.charCodeAt(afterPartition + 1);
  const rest = subject.slice(afterPartition + 3);
  if (rest === '') return undefined;
  if (kind === 0x6c /* l */) {
    const dot = rest.indexOf('.');
    return dot < 0 ? undefined : `${rest.slice(0, dot)}/${rest.slice(dot + 1)}`;
  }
  if (kind === 0x72 /* r */ || kind === 0x6b /* k */) {
    return rest.includes('.') ? rest.split('.').join('') : rest;
  }
  return undefined;
}

/** Whether a subject of the layout came straight from nats-server's mapping (`r`, `l`), not the keyer. */
export function isMappedSubject(subject: string): boolean {
  const afterPartition = subject.indexOf('.', NATS_SUBJECT_PREFIX.length + 1);
  const kind = subject.charCodeAt(afterPartition + 1);
  return kind === 0x72 || kind === 0x6c;
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
    `      # tokens, which no stream captures and the keyer reads.`,
    `      { stream: { account: ${NATS_FLEET_ACCOUNT}, subject: "*" }, to: "${p}.{{partition(${n},1)}}.r.{{SliceFromLeft(1,${SLICE})}}" }`,
    ...DEVICE_TOPIC_PREFIXES.map(
      (prefix) =>
        `      { stream: { account: ${NATS_FLEET_ACCOUNT}, subject: "${prefix}.*" }, to: "${p}.{{partition(${n},1)}}.l.${prefix}.{{wildcard(1)}}" }`,
    ),
  ];
  const streams = Array.from({ length: n }, (_, k) => {
    return `#   ${partitionStreamName('TKM', k)}: ${partitionSubjects(k).join(', ')}`;
  });
  return [
    `# nats-server configuration for tkmprom, ${n} partition${n === 1 ? '' : 's'}`,
    '# (printed by `tkmprom nats-config`; README "Scaling out" explains each part).',
    '#',
    '# The fleet (devices and quote backend) speaks MQTT 3.1.1 to the mqtt listener and lands in',
    `# the ${NATS_FLEET_ACCOUNT} account, whose subjects stay as the fleet publishes them. The ${NATS_TKM_ACCOUNT}`,
    '# account imports them, partitioned by device; tkmprom (exporters and keyers) connects as',
    `# user "tkmprom", e.g. nats://tkmprom:PASSWORD@${hostPort(o.listen)}.`,
    '#',
    '# JetStream streams, created by `tkmprom keyer` and `tkmprom run` at start when missing',
    '# (file storage, limits retention), one per partition:',
    ...streams,
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
