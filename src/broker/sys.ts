import type { Aedes } from 'aedes';
import type { Logger } from '../log.js';
import type { BrokerStats } from './types.js';

/** The `$SYS/broker/` topics, named as Mosquitto names them, and their values from `stats()`. */
export const SYS_TOPICS: readonly [
  topic: string,
  value: (s: BrokerStats, uptimeSeconds: number) => string,
][] = [
  ['clients/connected', (s) => String(s.clientsConnected)],
  ['messages/received', (s) => String(s.messagesIn[0] + s.messagesIn[1] + s.messagesIn[2])],
  ['messages/sent', (s) => String(s.messagesOut[0] + s.messagesOut[1] + s.messagesOut[2])],
  ['publish/messages/received', (s) => String(s.messagesIn[0] + s.messagesIn[1] + s.messagesIn[2])],
  ['publish/messages/sent', (s) => String(s.messagesOut[0] + s.messagesOut[1] + s.messagesOut[2])],
  ['publish/messages/dropped', (s) => String(s.publishesDenied)],
  ['bytes/received', (s) => String(s.bytesIn)],
  ['bytes/sent', (s) => String(s.bytesOut)],
  ['retained messages/count', (s) => String(s.retainedCount)],
  ['uptime', (_s, uptime) => `${uptime} seconds`],
];

/**
 * Publishes the `$SYS/broker/...` topics, retained and at QoS 0 as Mosquitto does: all of them at
 * once, then every `intervalMs` those whose value changed. Returns the function that stops it.
 */
export function publishSysTopics(
  aedes: Aedes,
  intervalMs: number,
  stats: () => BrokerStats,
  log: Logger,
): () => void {
  const started = Date.now();
  const last = new Map<string, string>();
  const publishChanged = () => {
    if (aedes.closed) return;
    const s = stats();
    const uptime = Math.floor((Date.now() - started) / 1000);
    for (const [name, value] of SYS_TOPICS) {
      const text = value(s, uptime);
      if (last.get(name) === text) continue;
      last.set(name, text);
      aedes.publish(
        {
          cmd: 'publish',
          topic: `$SYS/broker/${name}`,
          payload: Buffer.from(text),
          qos: 0,
          retain: true,
          dup: false,
        },
        (err) => {
          if (err) log.warn({ err: err.message, topic: `$SYS/broker/${name}` }, '$SYS publish failed');
        },
      );
    }
  };
  publishChanged();
  const timer = setInterval(publishChanged, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
