/** The message kinds tkmprom counts in `tkmprom_messages_total{kind}`. */
export const MESSAGE_KINDS = [
  'request',
  'reply',
  'heartbeat',
  'boot',
  'device_booted',
  'http_stream_request',
  'status_poll',
  'log',
  'alert',
  'firmware_update',
  'unknown_topic',
  'invalid',
] as const;

export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** The topic filters the exporter subscribes to; none overlaps another, so no message arrives twice. */
export const SUBSCRIPTIONS: readonly string[] = ['+', 'LOG/+', 'ALERT/+', 'FIRMWAREUPDATE/+'];

const HEX_UPPER = new Uint8Array(128);
for (const c of '0123456789ABCDEF') HEX_UPPER[c.charCodeAt(0)] = 1;

/** Device ids are the 12 upper-case hex digits of the chip's MAC address. */
export function isDeviceId(s: string): boolean {
  if (s.length !== 12) return false;
  for (let i = 0; i < 12; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || HEX_UPPER[c] === 0) return false;
  }
  return true;
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
  if (topic.length === 12 && isDeviceId(topic)) return TopicClass.Reply;
  switch (topic) {
    case 'STOCKPRICEUPDATE':
      return TopicClass.Request;
    case 'DEVICESTATUS_RES':
      return TopicClass.Heartbeat;
    case 'TICKRMETERBOOT':
      return TopicClass.Boot;
    case 'DEVICE_BOOTED':
      return TopicClass.DeviceBooted;
    case 'HTTPSTREAMSTOCKS':
      return TopicClass.HttpStream;
    case 'DEVICESTATUS':
      return TopicClass.StatusPoll;
  }
  if (topic.startsWith('LOG/')) return TopicClass.Log;
  if (topic.startsWith('ALERT/')) return TopicClass.Alert;
  if (topic.startsWith('FIRMWAREUPDATE/')) return TopicClass.FirmwareUpdate;
  return TopicClass.Unknown;
}
