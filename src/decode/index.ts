/**
 * The decoder's public surface: one reused `DecodedMessage` per message, the reasons a message is
 * dropped, the kinds it is counted under. Topics and the reply-class table are the protocol's
 * (src/protocol).
 */
export {
  DecodedMessage,
  type DecoderOptions,
  decodeMessage,
  INVALID_REASONS,
  type InvalidReason,
  ReplyClass,
  readNumber,
} from './decoder.js';
export { MESSAGE_KINDS, type MessageKind } from './topics.js';
