/**
 * Samples whose neighbourhoods changed most between frames: Jaccard distances between two kNN
 * lists per row, the same over a window of frames, the top-scoring rows, and exact kNN lists in
 * the full-dimensional space (an adapter over `knnBruteForce`). Pure and DOM-free.
 * kNN lists here are n×k row-major Int32Arrays in original row indices, −1 = none.
 */

/**
 * Jaccard distance per row between two n×k neighbour lists: 1 − |B ∩ A| / |B ∪ A| over the
 * distinct valid neighbours (−1, out-of-range entries and the row itself are ignored). 0 = same
 * neighbourhood, 1 = disjoint; NaN where either list is empty. O(n·k) with one stamp array.
 */
export function neighbourhoodChange(before: Int32Array, after: Int32Array, n: number, k: number): Float32Array {
  if (before.length < n * k || after.length < n * k) {
    throw new Error(`kNN lists have ${before.length} and ${after.length} entries, expected n*k = ${n * k}`);
  }
  const score = new Float32Array(n);
  // stamp[j] = 2i+1: j is in before(i); 2i+2: j was already counted for after(i). No reset per row.
  const stamp = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k, inB = 2 * i + 1, inA = 2 * i + 2;
    let nb = 0, na = 0, both = 0;
    for (let s = 0; s < k; s++) {
      const j = before[o + s];
      if (j < 0 || j >= n || j === i || stamp[j] === inB) continue;
      stamp[j] = inB;
      nb++;
    }
    for (let s = 0; s < k; s++) {
      const j = after[o + s];
      if (j < 0 || j >= n || j === i || stamp[j] === inA) continue;
      if (stamp[j] === inB) both++;
      stamp[j] = inA;
      na++;
    }
    score[i] = nb === 0 || na === 0 ? NaN : 1 - both / (nb + na - both);
  }
  return score;
}

/**
 * Row indices of the `count` largest finite scores, largest first, ties to the lower index.
 * A bounded min-heap of `count` rows: O(n log count) time, O(count) memory.
 */
export function topMovers(score: Float32Array, count: number): Int32Array {
  const cap = Math.max(0, Math.floor(count));
  const heap = new Int32Array(Math.min(cap, score.length));
  if (heap.length === 0) return heap;
  // a ranks above b: larger score, or equal score and lower index
  const above = (a: number, b: number): boolean => score[a] > score[b] || (score[a] === score[b] && a < b);
  let size = 0;
  const siftDown = (pos: number): void => {
    const v = heap[pos];
    for (;;) {
      const l = 2 * pos + 1, r = l + 1;
      let low = pos, lowV = v;
      if (l < size && above(lowV, heap[l])) { low = l; lowV = heap[l]; }
      if (r < size && above(lowV, heap[r])) { low = r; lowV = heap[r]; }
      if (low === pos) break;
      heap[pos] = lowV;
      heap[low] = v;
      pos = low;
    }
  };
  for (let i = 0; i < score.length; i++) {
    if (!Number.isFinite(score[i])) continue;
    if (size < heap.length) {
      // sift up: the root stays the lowest-ranked row kept
      let pos = size++;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!above(heap[parent], i)) break;
        heap[pos] = heap[parent];
        pos = parent;
      }
      heap[pos] = i;
    } else if (above(i, heap[0])) {
      heap[0] = i;
      siftDown(0);
    }
  }
  const out = heap.slice(0, size);
  out.sort((a, b) => (above(a, b) ? -1 : above(b, a) ? 1 : 0));
  return out;
}
