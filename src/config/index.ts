/** Settings: the schema, the loader (defaults, file, environment, flags) and durations. */
export * from './duration.js';
export * from './load.js';
export * from './schema.js';
export * from './secrets.js';
export * from './suggest.js';
export * from './nats-layout.js';
