import assert from 'node:assert/strict';
import { createConnection, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { pauseAfterSmallReads } from './batch-reads.js';

interface Received {
  bytes: Buffer;
  reads: number;
  pauses: number;
}

/** A loopback server that runs `send` on its side of the connection; the client batches its reads. */
async function receive(send: (peer: Socket) => Promise<void>, windowMs: number): Promise<Received> {
  const server: Server = createServer((peer) => {
    send(peer).then(() => peer.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const socket = createConnection({ host: '127.0.0.1', port, readableHighWaterMark: 1 } as NetConnectOpts);
    const chunks: Buffer[] = [];
    let reads = 0;
    let pauses = 0;
    socket.on('data', (c: Buffer) => {
      reads++;
      chunks.push(c);
    });
    const pause = socket.pause.bind(socket);
    socket.pause = () => {
      pauses++;
      return pause();
    };
    pauseAfterSmallReads(socket, windowMs);
    await new Promise((resolve) => socket.once('end', resolve));
    socket.destroy();
    return { bytes: Buffer.concat(chunks), reads, pauses };
  } finally {
    server.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('light traffic: messages written one by one are read a window at a time, all of them, in order', async () => {
  const messages = Array.from({ length: 150 }, (_, i) => `message ${i};`);
  const got = await receive(async (peer) => {
    for (const m of messages) {
      peer.write(m);
      await sleep(2);
    }
  }, 60);
  assert.equal(got.bytes.toString(), messages.join(''));
  // 150 writes over at least 300 ms, read at most once per 60 ms: a handful of reads, not 150.
  assert.ok(got.reads <= 20, `${got.reads} reads`);
  assert.ok(got.reads >= 2, `${got.reads} reads`);
  assert.equal(got.pauses, got.reads);
});

test('heavy traffic: full reads never pause', async () => {
  const block = Buffer.alloc(4 * 1024 * 1024, 'x');
  const got = await receive(async (peer) => {
    await new Promise<void>((resolve) => peer.write(block, () => resolve()));
  }, 1000);
  assert.equal(got.bytes.length, block.length);
  // Only a last, partial read may pause; the 4 MB arrive in full reads.
  assert.ok(got.pauses <= 1, `${got.pauses} pauses over ${got.reads} reads`);
});
