// FNV-1a, finished with murmur3's final mix so the low bits depend on every bit of the input
// (plain FNV-1a's bit k depends only on bits 0..k of each unit): the one cheap, stable 32-bit
// hash of names that routing and consistent hashing share.

const OFFSET = 0x811c9dc5;
const PRIME = 0x01000193;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Over a string's UTF-16 code units. */
export function fnvHash(text: string): number {
  let h = OFFSET;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), PRIME);
  return mix(h);
}

/** Over bytes buf[start, end). */
export function fnvHashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, PRIME);
  return mix(h);
}
