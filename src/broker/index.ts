/** The MQTT broker for small fleets: `tkmprom broker`, and the one embedded in the exporter. */
export * from './broker.js';
export * from './metrics.js';
export * from './passwords.js';
