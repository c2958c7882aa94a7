import { InvalidArgumentError } from '../errors.js';
import { hash } from './hash.js';
import { least } from './least.js';
import { p2c } from './p2c.js';
import { random } from './random.js';
import { roundRobin } from './round-robin.js';
import type { Strategy } from './strategy.js';
import { waterFill } from './water-fill.js';
import { weighted } from './weighted.js';

/**
 * The strategy used when none is configured. Chosen by measurement (README, "Strategies"):
 * least-loaded over reported balance plus this process's pending picks reached spread <= 1
 * in ramp and burst, where p2c left 2-3 and least without pending picks herded.
 */
export const DEFAULT_STRATEGY = 'least';

/** The strategies fulcrum ships, by the name `--strategy` and `getStrategy` take. */
export const BUILTIN_STRATEGIES: Readonly<Record<string, Strategy>> = Object.freeze({
  least,
  p2c,
  'round-robin': roundRobin,
  random,
  hash,
  weighted,
  'water-fill': waterFill,
});

const strategies = new Map<string, Strategy>(Object.entries(BUILTIN_STRATEGIES));

export function registerStrategy(name: string, strategy: Strategy): void {
  strategies.set(name, strategy);
}

export function getStrategy(name: string): Strategy {
  const s = strategies.get(name);
  if (!s) throw InvalidArgumentError.format('--strategy', `must be one of ${strategyNames().join(', ')}, got ${JSON.stringify(name)}`);
  return s;
}

export function strategyNames(): string[] {
  return [...strategies.keys()].sort();
}

