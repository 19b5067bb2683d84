/**
 * What the splitter does with one QoS 0 PUBLISH: the topic, the payload as a view of the bytes
 * read (valid for the call only: it shares memory with the read), and how long ago the message is
 * estimated to have arrived (0: just now).
 */
export type OnPublish = (topic: string, payload: Buffer, ageMs: number) => void;

/** What the splitter does with a PUBLISH too large to read: its topic and its payload's size. */
export type OnOversize = (topic: string, payloadBytes: number) => void;

/**
 * An MQTT 5 PUBLISH may carry properties before its payload; the splitter does not parse them to
 * size the payload, so a frame is skipped as oversize only past the limit plus this much. What is
 * between is read whole (bounded) and the decoder counts it as oversize.
 */
export const PROPERTY_ALLOWANCE_BYTES = 4096;

const PUBLISH = 3;
/** Remaining Length takes at most four bytes (MQTT 3.1.1 §2.2.3, 5.0 §1.5.5). */
const MAX_LENGTH_BYTES = 4;

/**
 * Splits what a broker sends into MQTT frames and delivers each QoS 0 PUBLISH straight to
 * `onPublish`; every other frame is passed on, unchanged and in order, to `passOn` (MQTT.js).
 *
 * The fleet's traffic is QoS 0 PUBLISH and nothing else: the exporter subscribes at QoS 0, so the
 * broker never sends more. MQTT.js spends most of its time per message on what such a frame does
 * not need (a packet object, a buffer list, a tick of its work queue, two events); here a frame
 * costs its header, a topic string and a view of its payload. What needs the client's state is
 * left to it: CONNACK, SUBACK, PINGRESP, DISCONNECT, PUBLISH at QoS 1 or 2 (acknowledged), and an
 * MQTT 5 PUBLISH carrying properties (a topic alias, say). A malformed length makes the splitter
 * give up on the connection and pass everything on, so MQTT.js reports the error as it would.
 *
 * Frames split across reads are gathered without copying until the frame is complete. A PUBLISH
 * whose payload is over `maxPayloadBytes` is not gathered: once its topic has been read it is
 * reported to `onOversize` and its bytes are dropped as they arrive, so a 250 MB message costs no
 * more memory than a read.
 */
export class PublishFrames {
  /** Reads that end in an incomplete frame, oldest first, and how many bytes they hold. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes the held frame needs in all, once its header is complete; 0 while it is not. */
  private needed = 0;
  private gaveUp = false;
  /** Bytes of an oversize frame still to come and be dropped. */
  private skipping = 0;
  /** A PUBLISH with a Remaining Length over this may be oversize: its topic is read to tell. */
  private readonly mayBeOversize: number;

  constructor(
    private readonly protocolVersion: number,
    private readonly onPublish: OnPublish,
    private readonly passOn: (frames: Buffer) => void,
    private readonly maxPayloadBytes = Number.POSITIVE_INFINITY,
    private readonly onOversize: OnOversize = () => {},
  ) {
    this.mayBeOversize = maxPayloadBytes + 2 + (protocolVersion === 5 ? PROPERTY_ALLOWANCE_BYTES : 0);
  }

  /** Frames delivered to `onPublish` and bytes passed on, for tests and diagnostics. */
  delivered = 0;
  passedOn = 0;
  /** Oversize frames skipped, and their bytes dropped unread. */
  skipped = 0;
  skippedBytes = 0;

  /**
   * `waitedMs`: how long the bytes of this read may have waited in the kernel (a batching pause). The
   * messages are taken to have arrived evenly over that time, in the order they were sent, so
   * each gets an age by its place in the read: the first the oldest, the last nearly 0.
   */
  write(chunk: Buffer, waitedMs = 0): void {
    if (this.gaveUp) {
      this.pass(chunk);
      return;
    }
    let buf = chunk;
    if (this.skipping > 0) {
      const drop = Math.min(this.skipping, buf.length);
      this.skipping -= drop;
      this.skippedBytes += drop;
      if (drop === buf.length) return;
      buf = buf.subarray(drop);
    }
    if (this.heldBytes > 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.needed > 0 && this.heldBytes < this.needed) return;
      buf = Buffer.concat(this.held, this.heldBytes);
      this.held.length = 0;
      this.heldBytes = 0;
      this.needed = 0;
    }
    const n = buf.length;
    const v5 = this.protocolVersion === 5;
    let at = 0;
    // Start of a run of frames to pass on, sent as one view when the run ends.
    let runFrom = -1;
    while (at < n) {
      const first = buf[at]!;
      let length = 0;
      let scale = 1;
      let p = at + 1;
      let lengthDone = false;
      while (p < n && p - at <= MAX_LENGTH_BYTES) {
        const b = buf[p++]!;
        length += (b & 0x7f) * scale;
        scale *= 128;
        if (b < 0x80) {
          lengthDone = true;
          break;
        }
      }
      if (!lengthDone) {
        if (p - at > MAX_LENGTH_BYTES) {
          // Malformed: no way to find the next frame. MQTT.js sees the bytes and reports it.
          this.gaveUp = true;
          this.pass(buf.subarray(runFrom >= 0 ? runFrom : at));
          return;
        }
        break;
      }
      const end = p + length;
      if (first >> 4 === PUBLISH && length > this.mayBeOversize) {
        // Needs the topic to tell; the header and topic are held (at most 64 KiB) until they are read.
        if (p + 2 > n) break;
        const topicEnd = p + 2 + ((buf[p]! << 8) | buf[p + 1]!);
        if (topicEnd > n) break;
        const packetId = (first & 0x06) === 0 ? 0 : 2;
        const payloadBytes = end - topicEnd - packetId - (v5 ? 1 : 0);
        if (payloadBytes > this.maxPayloadBytes + (v5 ? PROPERTY_ALLOWANCE_BYTES : 0)) {
          if (runFrom >= 0) {
            this.pass(buf.subarray(runFrom, at));
            runFrom = -1;
          }
          this.skipped++;
          this.onOversize(buf.toString('utf8', p + 2, topicEnd), payloadBytes);
          if (end <= n) {
            this.skippedBytes += end - at;
            at = end;
            continue;
          }
          this.skippedBytes += n - at;
          this.skipping = end - n;
          return;
        }
      }
      if (end > n) {
        this.needed = end - at;
        break;
      }
      // Fixed header flags of a PUBLISH: DUP, QoS (2 bits), RETAIN. QoS 0 is what is delivered here.
      if (first >> 4 === PUBLISH && (first & 0x06) === 0 && length >= 2) {
        const topicEnd = p + 2 + ((buf[p]! << 8) | buf[p + 1]!);
        // An MQTT 5 PUBLISH has a property length after the topic; only an empty one (a single 0) is read here.
        const payloadStart = v5 ? topicEnd + 1 : topicEnd;
        if (topicEnd > p + 2 && payloadStart <= end && (!v5 || buf[topicEnd] === 0)) {
          if (runFrom >= 0) {
            this.pass(buf.subarray(runFrom, at));
            runFrom = -1;
          }
          this.delivered++;
          this.onPublish(
            buf.toString('utf8', p + 2, topicEnd),
            buf.subarray(payloadStart, end),
            waitedMs === 0 ? 0 : (waitedMs * (n - end)) / n,
          );
          at = end;
          continue;
        }
      }
      if (runFrom < 0) runFrom = at;
      at = end;
    }
    if (runFrom >= 0) this.pass(buf.subarray(runFrom, at));
    if (at < n) {
      const rest = buf.subarray(at);
      this.held.push(rest);
      this.heldBytes = rest.length;
    }
  }

  private pass(bytes: Buffer): void {
    this.passedOn += bytes.length;
    this.passOn(bytes);
  }
}
