/**
 * The keyer (`tkmprom keyer`): puts the fleet's messages that carry their device in the payload onto
 * the device's NATS partition, with the same hash nats-server's mapping uses for the replies.
 */
export { Keying } from './key.js';
export {
  connectNats,
  ensureConsumer,
  ensureStream,
  type KeyerOptions,
  type RunningKeyer,
  startKeyer,
} from './keyer.js';
