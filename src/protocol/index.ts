/**
 * The TickrMeter protocol as tkmprom understands it (docs/protocol.md): topics, payload fields,
 * the reply-class table and payload builders. It depends on nothing else in the project.
 */
export * from './fields.js';
export * from './payloads.js';
export * from './replies.js';
export * from './topics.js';
