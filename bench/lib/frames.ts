import { connect, type Socket } from 'node:net';

/**
 * MQTT 3.1.1 frames written by hand: the generator sends pre-encoded PUBLISH frames, so that it
 * costs a memcpy per batch and can never be what limits a measurement.
 */

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** CONNECT with a clean session and keepalive 0, so an idle generator needs no PINGREQ. */
export function connectFrame(clientId: string): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00]);
  const body = Buffer.concat([variable, Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body]);
}

export const DISCONNECT_FRAME = Buffer.from([0xe0, 0x00]);

/** A QoS 0 PUBLISH: fixed header, topic, payload, nothing else. */
export function publishFrame(topic: string, payload: string | Buffer): Buffer {
  const t = Buffer.from(topic, 'utf8');
  const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const len = 2 + t.length + p.length;
  const header = remainingLength(len);
  const out = Buffer.allocUnsafe(1 + header.length + len);
  let at = 0;
  out[at++] = 0x30;
  for (const b of header) out[at++] = b;
  out[at++] = t.length >> 8;
  out[at++] = t.length & 0xff;
  at += t.copy(out, at);
  p.copy(out, at);
  return out;
}

/** A publishing-only MQTT connection over a raw socket; waits for the CONNACK before resolving. */
export async function rawConnect(port: number, clientId: string, timeoutMs = 5000): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no CONNACK from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      clearTimeout(timer);
      socket.off('data', onData);
      if (got[0] !== 0x20 || got[3] !== 0) {
        socket.destroy();
        reject(new Error(`connection refused by the broker (CONNACK ${got.subarray(0, 4).toString('hex')})`));
        return;
      }
      // Nothing else arrives on a publish-only connection; keep reading so the socket never stalls.
      socket.on('data', () => {});
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => socket.write(connectFrame(clientId)));
  });
}
