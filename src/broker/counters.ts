import type { Aedes, AedesPublishPacket, Client, ConnackPacket, PublishPacket } from 'aedes';
import type { Logger } from '../log.js';
import { filterCovers } from './acl.js';
import { type BrokerStats, type QoS, REFUSAL_REASONS, type RefusalReason, SYS_PREFIX } from './types.js';

const CONNACK_REASONS: Record<number, RefusalReason> = {
  1: 'unacceptable_protocol',
  2: 'identifier_rejected',
  3: 'server_unavailable',
  4: 'bad_username_or_password',
  5: 'not_authorized',
};

/** aedes internals this module relies on; pinned by the exact aedes version in package.json. */
interface InternalClient {
  deliver0: (packet: AedesPublishPacket, cb: () => void) => void;
  subscriptions: Record<string, { qos?: number } | undefined>;
}

function toQoS(qos: number | undefined): QoS {
  return qos === 1 || qos === 2 ? qos : 0;
}

function maxMatchingQoS(subs: InternalClient['subscriptions'], topic: string): number {
  let max = 0;
  for (const filter in subs) {
    if (filterCovers(filter, topic)) max = Math.max(max, subs[filter]?.qos ?? 0);
  }
  return max;
}

function zeroRefusals(): Record<RefusalReason, number> {
  return Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
}

/**
 * The broker's counters (README "Statistics"), kept from aedes' hooks and events: messages in and
 * out by QoS, retained topics, refusals and ACL denials. Bytes are the listeners' to count.
 */
export class BrokerCounters {
  readonly messagesIn: Record<QoS, number> = { 0: 0, 1: 0, 2: 0 };
  readonly messagesOut: Record<QoS, number> = { 0: 0, 1: 0, 2: 0 };
  readonly connectionsRefused = zeroRefusals();
  publishesDenied = 0;
  subscriptionsDenied = 0;
  readonly retainedTopics = new Set<string>();
  private readonly qos0Deliveries = new WeakSet<object>();

  /**
   * Which deliveries go out at QoS 0 is only known inside aedes' per-client deliver0, so it is
   * tagged there (from preConnect) and read back in `forwarded`, where every outgoing publish passes.
   */
  tagDeliveries(client: Client): void {
    const internal = client as unknown as InternalClient;
    const deliver0 = internal.deliver0;
    const tagged = this.qos0Deliveries;
    internal.deliver0 = (packet, cb) => {
      // A QoS 0 publish goes out at QoS 0 anyway: only a higher one needs the tag (and the QoS 0
      // relay, the fleet's traffic, then costs no WeakSet entry per delivery).
      if (packet.qos > 0) tagged.add(packet);
      deliver0(packet, cb);
    };
  }

  /** aedes' authorizeForward: counts the delivery by the QoS it goes out with. */
  forwarded(client: Client, packet: AedesPublishPacket): AedesPublishPacket {
    let qos = toQoS(packet.qos);
    if (qos > 0) {
      if (this.qos0Deliveries.has(packet)) {
        qos = 0;
      } else {
        const subs = (client as unknown as InternalClient).subscriptions;
        const exact = subs[packet.topic];
        if (exact) {
          // aedes itself downgrades to an exact-topic subscription's QoS after this hook.
          if ((exact.qos ?? 0) < qos) qos = toQoS(exact.qos);
        } else if (qos === 2 && maxMatchingQoS(subs, packet.topic) === 1) {
          // aedes would send a QoS 2 publish at QoS 2 through a wildcard granted QoS 1, which
          // MQTT-3.8.4-6 forbids; the packet is a per-delivery copy, so lowering it is local.
          packet.qos = 1;
          qos = 1;
        }
      }
    }
    this.messagesOut[qos]++;
    return packet;
  }

  /** Counts routed publishes and refused connections from aedes' events. */
  listen(aedes: Aedes, log: Logger): void {
    aedes.on('publish', (packet: PublishPacket) => {
      if (packet.topic.startsWith(SYS_PREFIX)) return;
      this.messagesIn[toQoS(packet.qos)]++;
      if (packet.retain) {
        if (packet.payload.length === 0) this.retainedTopics.delete(packet.topic);
        else this.retainedTopics.add(packet.topic);
      }
    });
    aedes.on('connackSent', (packet: ConnackPacket, client: Client) => {
      const code = packet.returnCode ?? 0;
      if (code === 0) return;
      this.connectionsRefused[CONNACK_REASONS[code] ?? 'other']++;
      log.debug({ clientId: client.id, returnCode: code }, 'connection refused');
    });
  }

  snapshot(clientsConnected: number, bytes: { in: number; out: number }): BrokerStats {
    return {
      clientsConnected,
      messagesIn: { ...this.messagesIn },
      messagesOut: { ...this.messagesOut },
      bytesIn: bytes.in,
      bytesOut: bytes.out,
      retainedCount: this.retainedTopics.size,
      connectionsRefused: { ...this.connectionsRefused },
      publishesDenied: this.publishesDenied,
      subscriptionsDenied: this.subscriptionsDenied,
    };
  }
}
