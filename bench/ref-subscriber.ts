/**
 * The exporter's own client ceiling: MQTT.js with the exporter's connection options and
 * subscriptions, counting messages and discarding them. A child of bench/run.ts, which reads its
 * CPU and memory from /proc and asks for its count over IPC.
 *
 *   node --import tsx bench/ref-subscriber.ts mqtt://127.0.0.1:PORT
 */
import mqtt from 'mqtt';
import { SUBSCRIPTIONS } from '../src/protocol/index.js';

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write('usage: ref-subscriber.ts MQTT_URL\n');
  process.exit(2);
}

let count = 0;
const client = mqtt.connect(url, {
  clientId: `bench-ref-${process.pid}`,
  clean: true,
  keepalive: 30,
  protocolVersion: 4,
  reconnectPeriod: 1000,
  resubscribe: false,
});
client.on('message', () => {
  count++;
});
client.on('connect', () => {
  client.subscribe([...SUBSCRIPTIONS], { qos: 0 }, (err) => {
    if (err) process.stderr.write(`subscribe failed: ${err.message}\n`);
    else process.send?.({ op: 'ready' });
  });
});
client.on('error', (err) => process.stderr.write(`mqtt error: ${err.message}\n`));
process.on('message', (m: { op: string }) => {
  if (m.op === 'count') process.send?.({ op: 'count', count });
  else if (m.op === 'exit') client.end(true, () => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
