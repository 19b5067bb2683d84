/**
 * What the splitter does with one QoS 0 PUBLISH: the topic, the payload as a view of the bytes
 * read (valid for the call only: it shares memory with the read), and how long ago the message is
 * estimated to have arrived (0: just now).
 */
export type OnPublish = (topic: string, payload: Buffer, ageMs: number) => void;

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
 * Frames split across reads are gathered without copying until the frame is complete.
 */
export class PublishFrames {
  /** Reads that end in an incomplete frame, oldest first, and how many bytes they hold. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Bytes the held frame needs in all, once its header is complete; 0 while it is not. */
  private needed = 0;
  private gaveUp = false;

  constructor(
    private readonly protocolVersion: number,
    private readonly onPublish: OnPublish,
    private readonly passOn: (frames: Buffer) => void,
  ) {}

  /** Frames delivered to `onPublish` and bytes passed on, for tests and diagnostics. */
  delivered = 0;
  passedOn = 0;

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
