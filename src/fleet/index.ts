/** The fleet stage's public surface: every device's latest heartbeat, online state and reboots. */
export * from './fleet.js';
