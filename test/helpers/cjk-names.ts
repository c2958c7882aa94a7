import { mulberry32 } from '../../src/tools/seeded-random.js';

/** `count` distinct legal user names of 42 CJK ideographs each (126 UTF-8 bytes, under the 128-byte limit), the same for a seed. */
export function cjkNames(count: number, seed = 42): string[] {
  const random = mulberry32(seed);
  const out = new Set<string>();
  while (out.size < count) {
    let s = '';
    for (let j = 0; j < 42; j++) s += String.fromCharCode(0x4e00 + Math.floor(random() * (0x9fff - 0x4e00 + 1)));
    out.add(s);
  }
  return [...out];
}
