// For the type check only. The browser code imports types from src/protocol/messages.ts, whose
// validators size names with Node's Buffer, and msgpackr's declarations name Buffer for what is a
// Uint8Array in a browser. Neither reaches the bundle (type-only imports are erased; msgpackr's
// browser build uses Uint8Array): this declares just that much of Buffer.
type Buffer = Uint8Array;
declare const Buffer: { byteLength(text: string, encoding?: string): number };
