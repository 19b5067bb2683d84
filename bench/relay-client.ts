/**
 * The broker scenario's clients (bench/scenarios/broker.ts), children of bench/run.ts:
 *
 *   node --import tsx bench/relay-client.ts sub PORT CONNECTIONS TOPIC
 *     CONNECTIONS bare subscribers on raw sockets: CONNECT, SUBSCRIBE at QoS 0, then PUBLISH
 *     frames are counted off the bytes (fixed header and remaining length only) and dropped.
 *   node --import tsx bench/relay-client.ts pub PORT COUNT TOPIC PAYLOAD_BYTES
 *     one raw-frame publisher: COUNT pre-encoded QoS 0 PUBLISH frames, written in batches as fast
 *     as the socket takes them.
 *
 * Both talk to the parent over IPC: `ready`, then `count` (sub) or `done` (pub).
 */
import type { Socket } from 'node:net';
import { publishFrame, rawConnect } from './lib/frames.js';

const [role, portArg, nArg, topic, payloadArg] = process.argv.slice(2);
const port = Number(portArg);
const send = (m: object) => process.send?.(m);
process.on('disconnect', () => process.exit(0));

/** SUBSCRIBE, packet id 1, one filter at QoS 0. */
function subscribeFrame(filter: string): Buffer {
  const t = Buffer.from(filter, 'utf8');
  const len = 2 + 2 + t.length + 1;
  return Buffer.concat([
    Buffer.from([0x82, len, 0x00, 0x01, t.length >> 8, t.length & 0xff]),
    t,
    Buffer.from([0]),
  ]);
}

let count = 0;
let firstAt = 0;
let lastAt = 0;

/** Counts PUBLISH frames in a stream of MQTT frames, across chunk boundaries, without copying. */
class FrameCounter {
  private skip = 0; // body bytes of the current frame still to pass
  private header = -1; // first byte of a frame whose remaining length is being read, else -1
  private length = 0;
  private shift = 0;
  suback = false;

  feed(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    let published = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        continue;
      }
      if (this.header < 0) {
        this.header = chunk[i++]!;
        this.length = 0;
        this.shift = 0;
        continue;
      }
      const b = chunk[i++]!;
      this.length += (b & 0x7f) * 2 ** this.shift;
      this.shift += 7;
      if ((b & 0x80) === 0) {
        const type = this.header >> 4;
        if (type === 3) published++;
        else if (type === 9) this.suback = true;
        this.skip = this.length;
        this.header = -1;
      }
    }
    if (published > 0) {
      const now = performance.now();
      if (count === 0) firstAt = now;
      lastAt = now;
      count += published;
    }
  }
}

async function subscriber(connections: number, filter: string): Promise<void> {
  const sockets: Socket[] = [];
  for (let c = 0; c < connections; c++) {
    const socket = await rawConnect(port, `bench-relay-sub-${process.pid}-${c}`);
    const counter = new FrameCounter();
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => counter.feed(d));
    socket.write(subscribeFrame(filter));
    sockets.push(socket);
    await new Promise<void>((resolve) => {
      const check = () => (counter.suback ? resolve() : setTimeout(check, 1));
      check();
    });
  }
  send({ op: 'ready' });
  process.on('message', (m: { op: string }) => {
    if (m.op === 'count') send({ op: 'count', count, ms: lastAt - firstAt });
  });
}

async function publisher(total: number, t: string, payloadBytes: number): Promise<void> {
  const socket = await rawConnect(port, `bench-relay-pub-${process.pid}`);
  const payload = Buffer.alloc(payloadBytes, 'x');
  const frame = publishFrame(t, payload);
  const BATCH = 64;
  const batch = Buffer.concat(Array.from({ length: BATCH }, () => frame));
  send({ op: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const k = Math.min(BATCH, total - sent);
    const ok = socket.write(k === BATCH ? batch : batch.subarray(0, k * frame.length));
    sent += k;
    if (!ok) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
  send({ op: 'done', sent, ms: performance.now() - t0 });
}

if (role === 'sub') {
  subscriber(Number(nArg), topic!).catch((err: Error) => {
    process.stderr.write(`relay-client sub: ${err.message}\n`);
    process.exit(1);
  });
} else if (role === 'pub') {
  publisher(Number(nArg), topic!, Number(payloadArg)).catch((err: Error) => {
    process.stderr.write(`relay-client pub: ${err.message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write(
    'usage: relay-client.ts sub PORT CONNECTIONS TOPIC | pub PORT COUNT TOPIC PAYLOAD_BYTES\n',
  );
  process.exit(2);
}
