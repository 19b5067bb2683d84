/** The correlation stage's public surface: requests paired with their replies (docs/correlation.md). */
export * from './correlator.js';
