import type { Aedes, AedesPublishPacket } from 'aedes';
import type { Logger } from '../log.js';

/**
 * Subscribes a function to `topics` inside the broker, without a connection: what the exporter's
 * embedded source reads. Resolves with the function that unsubscribes it.
 */
export async function subscribeInProcess(
  aedes: Aedes,
  log: Logger,
  topics: string[],
  onMessage: (topic: string, payload: Buffer) => void,
): Promise<() => Promise<void>> {
  const handlers = topics.map((topic) => {
    const wildcardFirst = topic.startsWith('+') || topic.startsWith('#');
    const handler = (packet: AedesPublishPacket, cb: () => void) => {
      // Mirrors what MQTT clients see: no `$` topics through a leading wildcard, no denied publishes.
      if (!(wildcardFirst && packet.topic.startsWith('$'))) {
        try {
          const payload = packet.payload;
          onMessage(packet.topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
        } catch (err) {
          log.error({ err, topic: packet.topic }, 'in-process subscriber failed');
        }
      }
      cb();
    };
    return { topic, handler };
  });
  await Promise.all(
    handlers.map(
      ({ topic, handler }) => new Promise<void>((resolve) => aedes.subscribe(topic, handler, resolve)),
    ),
  );
  let unsubscribed = false;
  return async () => {
    if (unsubscribed || aedes.closed) return;
    unsubscribed = true;
    await Promise.all(
      handlers.map(
        ({ topic, handler }) => new Promise<void>((resolve) => aedes.unsubscribe(topic, handler, resolve)),
      ),
    );
  };
}
