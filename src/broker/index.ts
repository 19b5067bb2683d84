/** The MQTT broker for small fleets: `tkmprom broker`, and the one embedded in the exporter. */
export { startBroker } from './broker.js';
export * from './metrics.js';
export * from './passwords.js';
export * from './types.js';
