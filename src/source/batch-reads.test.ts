import assert from 'node:assert/strict';
import { createConnection, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { pauseAfterSmallReads } from './batch-reads.js';

interface Received {
  bytes: Buffer;
  reads: number;
  /** Lengths of the reads that were followed by a pause. */
  pausedAfter: number[];
  largestRead: number;
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
    const pausedAfter: number[] = [];
    let largestRead = 0;
    // Registered before the batching listener, so it sees each read before any pause it causes.
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      largestRead = Math.max(largestRead, c.length);
    });
    const pause = socket.pause.bind(socket);
    socket.pause = () => {
      pausedAfter.push(chunks.at(-1)?.length ?? 0);
      return pause();
    };
    pauseAfterSmallReads(socket, windowMs);
    await new Promise((resolve) => socket.once('end', resolve));
    socket.destroy();
    return { bytes: Buffer.concat(chunks), reads: chunks.length, pausedAfter, largestRead };
  } finally {
    server.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** About 4 KB a millisecond: `count` writes of 8 KB, 2 ms apart. */
async function heavy(peer: Socket, count: number): Promise<void> {
  const chunk = Buffer.alloc(8 * 1024, 'y');
  for (let i = 0; i < count; i++) {
    peer.write(chunk);
    await sleep(2);
  }
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(5);
  assert.ok(done(), 'timed out waiting');
}

test('light traffic: messages written one by one are read a window at a time, all of them, in order', async () => {
  const messages = Array.from({ length: 150 }, (_, i) => `message ${i};`.padEnd(100, '.'));
  const started = performance.now();
  const got = await receive(async (peer) => {
    for (const m of messages) {
      peer.write(m);
      await sleep(2);
    }
  }, 60);
  const elapsed = performance.now() - started;
  assert.equal(got.bytes.toString(), messages.join(''));
  // 150 writes over at least 300 ms, read at most once per 60 ms (plus the first and the end).
  assert.ok(got.reads <= Math.ceil(elapsed / 60) + 2, `${got.reads} reads in ${Math.round(elapsed)} ms`);
  assert.ok(got.reads < 50, `${got.reads} reads`);
  assert.ok(got.reads >= 2, `${got.reads} reads`);
  // Every read pauses but the first, which has no rate to go by (see batch-reads.ts), and at most
  // one more that came too soon after it to give a rate.
  assert.ok(
    got.pausedAfter.length >= got.reads - 2,
    `${got.pausedAfter.length} pauses in ${got.reads} reads`,
  );
});

test('very light traffic: a pause that would gather a message or two is not taken', async () => {
  const got = await receive(async (peer) => {
    for (let i = 0; i < 5; i++) {
      peer.write(`message ${i};`.padEnd(100, '.'));
      await sleep(100);
    }
  }, 100);
  assert.equal(got.reads, 5);
  assert.deepEqual(got.pausedAfter, []);
});

test('heavy traffic: a full read never waits for the window, and yields to other sockets', async () => {
  const block = Buffer.alloc(4 * 1024 * 1024, 'x');
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  const got = await receive(async (peer) => {
    await new Promise<void>((resolve) => peer.write(block, () => resolve()));
  }, 10_000);
  counting = false;
  const elapsed = performance.now() - started;
  assert.equal(got.bytes.length, block.length);
  assert.ok(got.largestRead >= 16 * 1024, `largest read ${got.largestRead} bytes: no full read to check`);
  // One pause of the window would alone take 10 s.
  assert.ok(elapsed < 5000, `took ${Math.round(elapsed)} ms`);
  // Every full read gave the event loop a turn before the next read: at least one turn per two reads.
  assert.ok(turns >= got.reads / 2, `${turns} turns of the event loop for ${got.reads} reads`);
});

test('steady traffic: a pause never gathers much more than one full read, however long the window', async () => {
  const started = performance.now();
  // A 30 s pause would gather 120 MB; the rate allows about 4 ms.
  const got = await receive((peer) => heavy(peer, 200), 30_000);
  const elapsed = performance.now() - started;
  assert.equal(got.bytes.length, 200 * 8 * 1024);
  assert.ok(got.pausedAfter.length > 0, 'small reads paused');
  // One pause of the full window would alone take 30 s.
  assert.ok(elapsed < 20_000, `took ${Math.round(elapsed)} ms`);
});

test('a small read after a lull in heavy traffic does not start a long pause', async () => {
  const started = performance.now();
  const got = await receive(async (peer) => {
    await heavy(peer, 100);
    await sleep(100);
    peer.write('lone message;');
    await sleep(20);
    await heavy(peer, 50);
  }, 30_000);
  const elapsed = performance.now() - started;
  assert.equal(got.bytes.length, 150 * 8 * 1024 + 'lone message;'.length);
  // Sized by that read alone (13 bytes in 100 ms), the pause would be the whole 30 s window.
  assert.ok(elapsed < 10_000, `took ${Math.round(elapsed)} ms`);
});

test('catchUp ends a pause and resolves once what waited has been read', async () => {
  const server: Server = createServer(async (peer) => {
    // The first read never pauses; the second one does.
    peer.write('zero;');
    await sleep(50);
    peer.write('first;');
    await sleep(100);
    peer.write('second;');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const socket = createConnection({ host: '127.0.0.1', port, readableHighWaterMark: 1 } as NetConnectOpts);
  try {
    let received = '';
    socket.on('data', (c: Buffer) => {
      received += c.toString();
    });
    // A window far longer than the test: only catchUp can bring the second write in.
    const batched = pauseAfterSmallReads(socket, 60_000);
    await until(() => received === 'zero;first;');
    assert.equal(batched.paused, true);
    await sleep(300);
    assert.equal(received, 'zero;first;', 'the third write waits in the kernel');
    await batched.catchUp();
    assert.equal(received, 'zero;first;second;');
    // The second read was small too, so it began a pause of its own.
    assert.equal(batched.paused, true);
    await batched.catchUp();
    assert.equal(batched.paused, false);
  } finally {
    socket.destroy();
    server.close();
  }
});

test('a read that ends a pause tells how long its data may have waited; lag grows while paused', async () => {
  const server: Server = createServer(async (peer) => {
    peer.write('zero;');
    await sleep(50);
    peer.write('first;');
    await sleep(150);
    peer.write('second;');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const socket = createConnection({ host: '127.0.0.1', port, readableHighWaterMark: 1 } as NetConnectOpts);
  try {
    const waited: number[] = [];
    let batched: ReturnType<typeof pauseAfterSmallReads> | undefined;
    // Registered first, as the frame splitter is: it reads the wait before batching moves on.
    socket.on('data', () => waited.push(batched!.waitedMs(performance.now())));
    batched = pauseAfterSmallReads(socket, 60_000);
    await until(() => waited.length === 2);
    assert.equal(batched.lagMs(performance.now()) < 50, true);
    await sleep(300);
    const lag = batched.lagMs(performance.now());
    assert.ok(lag >= 300 && lag < 1000, `lag ${lag} ms`);
    await batched.catchUp();
    assert.equal(waited.length, 3);
    assert.deepEqual(waited.slice(0, 2), [0, 0], 'the first reads ended no pause');
    assert.ok(waited[2]! >= 300 && waited[2]! < 1000, `waited ${waited[2]} ms`);
    await batched.catchUp();
    assert.equal(batched.lagMs(performance.now()), 0);
  } finally {
    socket.destroy();
    server.close();
  }
});
