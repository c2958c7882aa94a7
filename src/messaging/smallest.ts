/**
 * The `k` smallest items of `items` in ascending order, and how many items there were: a bounded
 * max-heap, O(n log k) time and O(k) memory. Listing the first 50 of a million online users this
 * way takes a scan, where sorting them all would block the event loop for over a second.
 */
export function smallest<T>(items: Iterable<T>, k: number, compare: (a: T, b: T) => number): { total: number; items: T[] } {
  const heap: T[] = []; // max-heap: heap[0] is the largest kept
  let total = 0;
  const swap = (i: number, j: number) => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  for (const item of items) {
    total++;
    if (k <= 0) continue;
    if (heap.length < k) {
      heap.push(item);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (compare(heap[i]!, heap[parent]!) <= 0) break;
        swap(i, parent);
        i = parent;
      }
    } else if (compare(item, heap[0]!) < 0) {
      heap[0] = item;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let top = i;
        if (l < heap.length && compare(heap[l]!, heap[top]!) > 0) top = l;
        if (r < heap.length && compare(heap[r]!, heap[top]!) > 0) top = r;
        if (top === i) break;
        swap(i, top);
        i = top;
      }
    }
  }
  return { total, items: heap.sort(compare) };
}
