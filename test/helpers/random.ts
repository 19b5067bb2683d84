import { mulberry32 } from '../../src/sim/index.js';

export { mulberry32 };

/** Standard normal deviates by Box-Muller over `random`. */
export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** Log-normal latencies with arithmetic mean `mean` and log-standard-deviation `sigma`. */
export function lognormal(random: () => number, sigma: number): (mean: number) => number {
  const z = normal(random);
  return (mean) => mean * Math.exp(sigma * z() - (sigma * sigma) / 2);
}
