// The balancing layer's public names; built-in strategies are listed in strategy-registry.ts.
export { BUILTIN_STRATEGIES, DEFAULT_STRATEGY, getStrategy, registerStrategy, strategyNames } from './strategy-registry.js';
export { createHashStrategy, DEFAULT_VIRTUAL_NODES, hash } from './hash.js';
export { least } from './least.js';
export { p2c } from './p2c.js';
export { random } from './random.js';
export { roundRobin } from './round-robin.js';
export { weighted } from './weighted.js';
export { createWaterFillStrategy, DEFAULT_BLIND_WINDOW_MS, expectedArrivals, waterFill, waterLevel, type WaterFillOptions } from './water-fill.js';
