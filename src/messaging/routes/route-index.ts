// The index of a router's routes: user-name hash → (shard, entry offset), in three typed arrays
// (12 bytes a slot, open addressing with linear probing). A user may have several slots (one per
// shard listing it: while it moves between servers or shards). The names themselves stay in the
// shard buffers; the caller compares them.

const EMPTY = 0;
const DEAD = 0xffffffff;
const MIN_CAPACITY = 64;
/** Live plus dead slots past this share of the capacity: rehash. */
const MAX_FILL = 0.75;
/** After a rehash at most this share is live. */
const REHASH_LOAD = 0.5;
/** Live slots below this share (of a table above the minimum): shrink. */
const MIN_LOAD = 0.125;

export class RouteIndex {
  private hashes: Uint32Array;
  private refs: Uint32Array;
  private offsets: Uint32Array;
  private mask: number;
  private live = 0;
  private dead = 0;

  constructor() {
    this.hashes = new Uint32Array(MIN_CAPACITY);
    this.refs = new Uint32Array(MIN_CAPACITY);
    this.offsets = new Uint32Array(MIN_CAPACITY);
    this.mask = MIN_CAPACITY - 1;
  }

  /** Live slots. */
  get size(): number {
    return this.live;
  }

  /** Bytes the slot arrays take. */
  get bytes(): number {
    return 12 * (this.mask + 1);
  }

  /** The next live slot holding `hash` after position `after` (-1: from the start of its run); -1 when there is none. */
  next(hash: number, after = -1): number {
    const mask = this.mask;
    let i = after < 0 ? hash & mask : (after + 1) & mask;
    for (;;) {
      const r = this.refs[i]!;
      if (r === EMPTY) return -1;
      if (r !== DEAD && this.hashes[i] === hash) return i;
      i = (i + 1) & mask;
    }
  }

  /** Shard reference (≥ 1) of a live slot. */
  ref(pos: number): number {
    return this.refs[pos]!;
  }

  offset(pos: number): number {
    return this.offsets[pos]!;
  }

  setOffset(pos: number, offset: number): void {
    this.offsets[pos] = offset;
  }

  /** Adds a slot (ref ≥ 1). Positions found before may move. */
  insert(hash: number, ref: number, offset: number): void {
    if (this.live + this.dead + 1 > MAX_FILL * (this.mask + 1)) this.rehash(this.live + 1);
    const mask = this.mask;
    let i = hash & mask;
    while (this.refs[i] !== EMPTY && this.refs[i] !== DEAD) i = (i + 1) & mask;
    if (this.refs[i] === DEAD) this.dead--;
    this.hashes[i] = hash;
    this.refs[i] = ref;
    this.offsets[i] = offset;
    this.live++;
  }

  /** Removes a live slot. Positions found before may move. */
  remove(pos: number): void {
    this.refs[pos] = DEAD;
    this.live--;
    this.dead++;
    if (this.mask + 1 > MIN_CAPACITY && this.live < MIN_LOAD * (this.mask + 1)) this.rehash(this.live);
  }

  private rehash(live: number): void {
    let capacity = MIN_CAPACITY;
    while (capacity * REHASH_LOAD < live) capacity *= 2;
    const { hashes, refs, offsets } = this;
    this.hashes = new Uint32Array(capacity);
    this.refs = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
    this.mask = capacity - 1;
    this.live = 0;
    this.dead = 0;
    for (let i = 0; i < refs.length; i++) {
      const r = refs[i]!;
      if (r === EMPTY || r === DEAD) continue;
      let j = hashes[i]! & this.mask;
      while (this.refs[j] !== EMPTY) j = (j + 1) & this.mask;
      this.hashes[j] = hashes[i]!;
      this.refs[j] = r;
      this.offsets[j] = offsets[i]!;
      this.live++;
    }
  }
}
