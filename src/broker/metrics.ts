import type { Registry } from '../export/index.js';
import { type EmbeddedBroker, REFUSAL_REASONS } from './types.js';

/** The embedded broker's own series, read from its counters at each scrape. */
export function registerBrokerMetrics(reg: Registry, broker: EmbeddedBroker): void {
  const clients = reg.gauge('tkmprom_broker_clients_connected', 'Clients connected to the embedded broker.');
  const received = reg.counter(
    'tkmprom_broker_messages_received_total',
    'Messages published to the embedded broker, by QoS.',
    ['qos'],
  );
  const sent = reg.counter(
    'tkmprom_broker_messages_sent_total',
    'Messages delivered by the embedded broker to network clients, by QoS.',
    ['qos'],
  );
  const bytesIn = reg.counter(
    'tkmprom_broker_received_bytes_total',
    'Bytes received by the embedded broker.',
  );
  const bytesOut = reg.counter('tkmprom_broker_sent_bytes_total', 'Bytes sent by the embedded broker.');
  const retained = reg.gauge(
    'tkmprom_broker_retained_messages',
    'Retained messages held by the embedded broker.',
  );
  const refused = reg.counter(
    'tkmprom_broker_connections_refused_total',
    'Connections the embedded broker refused, by reason.',
    ['reason'],
  );
  reg.onCollect(() => {
    const s = broker.stats();
    clients.labels().set(s.clientsConnected);
    for (const q of [0, 1, 2] as const) {
      received.labels(String(q)).value = s.messagesIn[q];
      sent.labels(String(q)).value = s.messagesOut[q];
    }
    bytesIn.labels().value = s.bytesIn;
    bytesOut.labels().value = s.bytesOut;
    retained.labels().set(s.retainedCount);
    for (const r of REFUSAL_REASONS) refused.labels(r).value = s.connectionsRefused[r];
  });
}
