import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { batchWrites } from './listeners.js';

/** A connected loopback pair: the server side is what the broker writes to. */
async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const server = await accepted;
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

function publish(n: number): mqttPacket.IPublishPacket {
  return { cmd: 'publish', topic: 'T', payload: Buffer.from(`m${n}`), qos: 0, dup: false, retain: false };
}

test('packets written in one turn of the event loop leave in one writev, in order, and the next turn writes again', {
  timeout: 10_000,
}, async (t) => {
  const { server, client, close } = await socketPair();
  t.after(close);
  batchWrites(server);
  const internal = server as unknown as {
    _writev: (chunks: unknown[], cb: unknown) => void;
    _write: (...a: unknown[]) => void;
  };
  const writevChunks: number[] = [];
  let writes = 0;
  const writev = internal._writev.bind(server);
  const write = internal._write.bind(server);
  internal._writev = (chunks: unknown[], cb: unknown) => {
    writevChunks.push(chunks.length);
    writev(chunks, cb);
  };
  internal._write = (...args: unknown[]) => {
    writes++;
    write(...args);
  };

  const received: string[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: mqttPacket.Packet) => {
    if (p.cmd === 'publish') received.push(String(p.payload));
  });
  client.on('data', (d) => parser.parse(d));

  // As aedes delivers: each packet in its own setImmediate, through mqtt-packet, which corks the
  // socket and uncorks it on the next tick, that is before the next immediate runs.
  const inImmediates = (from: number, to: number) =>
    new Promise<void>((resolve) => {
      for (let i = from; i < to; i++) setImmediate(() => mqttPacket.writeToStream(publish(i), server));
      setImmediate(() => setImmediate(resolve));
    });
  await inImmediates(0, 100);
  assert.equal(writevChunks.length, 1);
  assert.equal(writes, 0);
  assert.ok(writevChunks[0]! >= 100, `one writev of ${writevChunks[0]} chunks`);

  const deadline = Date.now() + 3000;
  while (received.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(
    received,
    Array.from({ length: 100 }, (_, i) => `m${i}`),
  );

  // A later turn is corked afresh: its packets leave together, separately from the first batch.
  await inImmediates(100, 102);
  assert.equal(writevChunks.length + writes, 2);
  while (received.length < 102 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(received.slice(100), ['m100', 'm101']);
});
