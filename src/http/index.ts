/** The HTTP surface: /metrics, health, the JSON API and the status page. */
export * from './routes.js';
export * from './server.js';
export * from './snapshot.js';
export * from './web-config.js';
