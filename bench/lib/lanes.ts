import { type Broker, startBroker } from './broker.js';
import { type Ctx, publish, STANDARD } from './context.js';
import { Feed } from './feed.js';
import { rawConnect } from './frames.js';
import type { Scripted } from './gen-client.js';
import {
  exporterReceiver,
  mosquittoSubReceiver,
  mqttjsReceiver,
  type Receiver,
  type ReceiverName,
} from './receivers.js';
import type { ExporterProcess } from './exporter.js';

/**
 * One receiver alone on a broker of its own, fed by its own connection of the generator. The three
 * receivers get the same script at the same rates in turn, so each is measured without the others
 * sharing its cores, and all three live through the same stretch of the machine's noise.
 */
export interface Lane {
  name: ReceiverName;
  broker: Broker;
  receiver: Receiver;
  feed: Feed;
}

export interface Lanes {
  script: Scripted;
  lanes: Lane[];
  exporter: Lane & { receiver: Receiver & { proc: ExporterProcess } };
  stop(): Promise<void>;
}

export async function startLanes(ctx: Ctx, names: ReceiverName[], rate: number): Promise<Lanes> {
  const script = await ctx.gen.script('std', { ...STANDARD, rate });
  const lanes: Lane[] = [];
  const stop = async () => {
    for (const l of lanes) {
      await l.receiver.stop().catch(() => {});
      await l.broker.stop();
    }
  };
  try {
    for (const name of names) {
      const broker = await startBroker();
      await ctx.gen.connect(`lane-${name}`, broker.port);
      let receiver: Receiver;
      if (name === 'exporter') receiver = await exporterReceiver(broker.url);
      else if (name === 'mqttjs') receiver = await mqttjsReceiver(broker.url);
      else {
        const pub = await rawConnect(broker.port, 'bench-ready');
        try {
          receiver = await mosquittoSubReceiver(broker.port, async () => publish(pub, 'BENCHREADY', '{}'));
        } finally {
          pub.destroy();
        }
      }
      lanes.push({ name, broker, receiver, feed: new Feed(ctx.gen, `lane-${name}`, script) });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const exporter = lanes.find((l) => l.name === 'exporter') as Lanes['exporter'] | undefined;
  if (exporter === undefined) throw new Error('lanes need an exporter');
  return { script, lanes, exporter, stop };
}
