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
 * water-fill is least (plus pending picks) whenever no other picker is expected to pick on the
 * same picture, so it keeps least's single-picker results, and it stays even where pickers
 * that share nothing herd under least (fleet-burst, fleet-failover).
 */
export const DEFAULT_STRATEGY = 'water-fill';

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

