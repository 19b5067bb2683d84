/** Topics the devices publish on. */
export const REQUEST_TOPIC = 'STOCKPRICEUPDATE';
export const HEARTBEAT_TOPIC = 'DEVICESTATUS_RES';
export const BOOT_TOPIC = 'TICKRMETERBOOT';
/** Topics the backend publishes on (besides `<deviceId>`, the replies). */
export const DEVICE_BOOTED_TOPIC = 'DEVICE_BOOTED';
export const HTTP_STREAM_TOPIC = 'HTTPSTREAMSTOCKS';
export const STATUS_POLL_TOPIC = 'DEVICESTATUS';
/** Per-device topics are these prefixes followed by the device id. */
export const LOG_PREFIX = 'LOG/';
export const ALERT_PREFIX = 'ALERT/';
export const FIRMWARE_UPDATE_PREFIX = 'FIRMWAREUPDATE/';

/**
 * The topic filters that see the whole protocol. `+` matches one-level topics only, so none overlaps
 * another and no message arrives twice.
 */
export const SUBSCRIPTIONS: readonly string[] = [
  '+',
  `${LOG_PREFIX}+`,
  `${ALERT_PREFIX}+`,
  `${FIRMWARE_UPDATE_PREFIX}+`,
];

export const DEVICE_ID_LENGTH = 12;

const HEX_UPPER = new Uint8Array(128);
for (const c of '0123456789ABCDEF') HEX_UPPER[c.charCodeAt(0)] = 1;

/** Device ids are the 12 upper-case hex digits of the chip's MAC address. */
export function isDeviceId(s: string): boolean {
  if (s.length !== DEVICE_ID_LENGTH) return false;
  for (let i = 0; i < DEVICE_ID_LENGTH; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX_UPPER[c] === 0) return false;
  }
  return true;
}

export function logTopic(deviceId: string): string {
  return LOG_PREFIX + deviceId;
}

export function alertTopic(deviceId: string): string {
  return ALERT_PREFIX + deviceId;
}

export function firmwareUpdateTopic(deviceId: string): string {
  return FIRMWARE_UPDATE_PREFIX + deviceId;
}

export enum TopicClass {
  Reply,
  Request,
  Heartbeat,
  Boot,
  DeviceBooted,
  HttpStream,
  StatusPoll,
  Log,
  Alert,
  FirmwareUpdate,
  Unknown,
}

/** Classifies a topic without allocating: a switch on the known names, then the prefixes. */
export function classifyTopic(topic: string): TopicClass {
  if (topic.length === DEVICE_ID_LENGTH && isDeviceId(topic)) return TopicClass.Reply;
  switch (topic) {
    case REQUEST_TOPIC:
      return TopicClass.Request;
    case HEARTBEAT_TOPIC:
      return TopicClass.Heartbeat;
    case BOOT_TOPIC:
      return TopicClass.Boot;
    case DEVICE_BOOTED_TOPIC:
      return TopicClass.DeviceBooted;
    case HTTP_STREAM_TOPIC:
      return TopicClass.HttpStream;
    case STATUS_POLL_TOPIC:
      return TopicClass.StatusPoll;
  }
  if (topic.startsWith(LOG_PREFIX)) return TopicClass.Log;
  if (topic.startsWith(ALERT_PREFIX)) return TopicClass.Alert;
  if (topic.startsWith(FIRMWARE_UPDATE_PREFIX)) return TopicClass.FirmwareUpdate;
  return TopicClass.Unknown;
}
