export { classifyTopic, isDeviceId, SUBSCRIPTIONS, TopicClass } from '../protocol/index.js';

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
