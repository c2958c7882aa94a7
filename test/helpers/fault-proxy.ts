// The fault proxy lives with the tools (the soak uses it too); tests import it from here.
export { startProxy, firstPort, type FaultProxy } from '../../src/tools/faults/fault-proxy.js';
