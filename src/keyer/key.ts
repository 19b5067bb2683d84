import { partitionOf, partitionOfBytes, topicOfSubject } from '../config/index.js';
import { DecodedMessage, decodeMessage } from '../decode/index.js';

/**
 * Which partition a message the keyer reads belongs to: its device's, read from the payload as the
 * exporter's decoder reads it (requests, heartbeats, boots, `DEVICE_BOOTED`, `HTTPSTREAMSTOCKS`).
 * A message without a readable device (an unknown topic, a payload the exporter counts as invalid)
 * goes to the partition of its topic, so that it is still counted once, by one exporter.
 */
export class Keying {
  private readonly m = new DecodedMessage();
  private readonly opts: { maxPayloadBytes: number };

  constructor(
    readonly partitions: number,
    maxPayloadBytes = 16_384,
  ) {
    this.opts = { maxPayloadBytes };
  }

  partition(topic: string, payload: Uint8Array): number {
    const m = this.m;
    const buf = Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (decodeMessage(topic, buf, m, this.opts) && m.device !== '' && m.device !== undefined) {
      return partitionOf(m.device, this.partitions);
    }
    return partitionOfBytes(Buffer.from(topic), this.partitions);
  }

  /** The MQTT topic of a subject the keyer subscribes to, or undefined for one it cannot place. */
  static topicOf(subject: string): string | undefined {
    return topicOfSubject(subject);
  }
}
