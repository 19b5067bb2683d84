/** The HTTP surface: /metrics, health, the JSON API and the status page. */
export * from './limits.js';
export * from './metrics.js';
export * from './routes.js';
export * from './server.js';
export * from './snapshot.js';
export * from './web-config.js';
