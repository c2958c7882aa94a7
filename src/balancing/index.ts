import { hash } from './hash.js';
import { least } from './least.js';
import { p2c } from './p2c.js';
import { random } from './random.js';
import { roundRobin } from './round-robin.js';
import { registerStrategy } from './strategy.js';
import { weighted } from './weighted.js';

// Registered at import time so `getStrategy(name)` works for any module that imports this one.
registerStrategy('least', least);
registerStrategy('p2c', p2c);
registerStrategy('round-robin', roundRobin);
registerStrategy('random', random);
registerStrategy('hash', hash);
registerStrategy('weighted', weighted);

/**
 * The strategy used when none is configured. Chosen by measurement (README, "Strategies"):
 * least-loaded over reported balance plus this process's pending picks reached spread <= 1
 * in ramp and burst, where p2c left 2-3 and the seed rule without pending herded.
 */
export const DEFAULT_STRATEGY = 'least';

export { createHashStrategy, DEFAULT_VIRTUAL_NODES, hash } from './hash.js';
export { least } from './least.js';
export { p2c } from './p2c.js';
export { random } from './random.js';
export { roundRobin } from './round-robin.js';
export { weighted } from './weighted.js';
