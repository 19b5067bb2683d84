/** Sources of the fleet's messages: an MQTT broker, or the broker embedded in this process. */
export * from './embedded-source.js';
export * from './mqtt-source.js';
export * from './nats-source.js';
