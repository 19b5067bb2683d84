import type { BrokerOptions } from '../broker/index.js';
import { SUBSCRIPTIONS } from '../protocol/index.js';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import type { MessageSink, Source } from './mqtt-source.js';

/**
 * Reads the fleet from a broker running in this process: no TCP hop, no client. The broker's
 * own metrics join the exporter's registry.
 */
export async function startEmbeddedSource(
  options: BrokerOptions,
  sink: MessageSink & { registry: import('../export/index.js').Registry },
  logger: Logger,
  /** The option that set each listener's address, named when it cannot listen. */
  listenerOption: (listener: 'mqtt' | 'mqtts' | 'ws') => string,
): Promise<{ source: Source; stopBroker: () => Promise<void> }> {
  const { startBroker, BrokerListenError } = await import('../broker/index.js');
  const { registerBrokerMetrics } = await import('../broker/index.js');
  const broker = await startBroker({ ...options, logger }).catch((err) => {
    if (err instanceof BrokerListenError) {
      const option = listenerOption(err.listener);
      err.message = `${option}: ${err.message}`;
      if (err.code === ErrorCodes.LISTEN_ADDRESS_IN_USE) err.message += `; pick another port for ${option}`;
    }
    throw err;
  });
  registerBrokerMetrics(sink.registry, broker);
  let unsubscribe: (() => Promise<void>) | undefined;
  let ready = false;
  const source: Source = {
    get ready() {
      return ready;
    },
    get notReadyReason() {
      return ready ? undefined : 'the embedded broker is not subscribed yet';
    },
    async start() {
      unsubscribe = await broker.subscribeInProcess([...SUBSCRIPTIONS], (topic, payload) =>
        sink.handle(topic, payload),
      );
      ready = true;
      sink.setConnected(true);
      logger.info({ mqtt: broker.addresses().mqtt }, 'embedded broker listening');
    },
    async stop() {
      ready = false;
      await unsubscribe?.();
      sink.setConnected(false);
    },
  };
  return { source, stopBroker: () => broker.close() };
}
