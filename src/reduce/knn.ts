/**
 * k-nearest-neighbour graphs over a float32 n×dim matrix (Euclidean).
 * Rows of the result are sorted by distance and start with the point itself (distance 0),
 * the convention of umap-learn/umap-js, so `k` counts the point itself.
 * - `knnBruteForce`: exact, O(n²·dim); used for small n and as the reference.
 * - `knnDescent`: random-projection-tree init + NN-descent; or warm start from a previous graph.
 */
import { Rng } from "./rng.ts";

export interface KnnGraph {
  n: number;
  k: number;
  /** n×k neighbour indices; row i starts with i. −1 where fewer than k points exist. */
  indices: Int32Array;
  /** n×k Euclidean distances, ascending per row. */
  distances: Float32Array;
}

export interface KnnDescentOptions {
  seed?: number;
  /** Warm start: previous n×kPrev neighbour indices (−1 = none); replaces the tree init. */
  init?: Int32Array | null;
  /** NN-descent rounds (default 12 cold, 3 warm); stops earlier once updates become rare. */
  iterations?: number;
  /** Random projection trees for the cold init (default 4). */
  trees?: number;
  leafSize?: number;
  /** Stop when fewer than delta·n·k heap updates happen in a round (default 0.001). */
  delta?: number;
  /** Candidates sampled per point and round for the local join (default max(k − 1, 8)). */
  maxCandidates?: number;
  /** Called after the tree init (0) and after each NN-descent round (r), of `total` rounds at most. */
  onRound?: (round: number, total: number) => void;
}

/**
 * Squared distance between rows a and b. Four running sums: one sum would make every addition wait
 * for the last (a chain of `dim` dependent additions), four let the CPU overlap them (~2× faster).
 */
export function sqDist(x: Float32Array, a: number, b: number, dim: number): number {
  const ao = a * dim, bo = b * dim;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, p = 0;
  for (; p + 3 < dim; p += 4) {
    const t0 = x[ao + p] - x[bo + p], t1 = x[ao + p + 1] - x[bo + p + 1];
    const t2 = x[ao + p + 2] - x[bo + p + 2], t3 = x[ao + p + 3] - x[bo + p + 3];
    s0 += t0 * t0; s1 += t1 * t1; s2 += t2 * t2; s3 += t3 * t3;
  }
  for (; p < dim; p++) {
    const t = x[ao + p] - x[bo + p];
    s0 += t * t;
  }
  return (s0 + s1) + (s2 + s3);
}

/** Indices of the k smallest values (k small: a bounded insertion list). */
export function nearest(values: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let j = 0; j < values.length; j++) {
    const v = values[j];
    if (best.length === k && v >= values[best[k - 1]]) continue;
    let i = Math.min(best.length, k - 1);
    if (best.length < k) best.push(j);
    while (i > 0 && values[best[i - 1]] > v) {
      best[i] = best[i - 1];
      i--;
    }
    best[i] = j;
  }
  return best;
}

/** Bounded max-heaps of (index, distance, isNew) per point, K slots each. */
class NeighborHeaps {
  readonly idx: Int32Array;
  readonly dist: Float32Array;
  readonly isNew: Uint8Array;
  constructor(readonly n: number, readonly K: number) {
    this.idx = new Int32Array(n * K).fill(-1);
    this.dist = new Float32Array(n * K).fill(Infinity);
    this.isNew = new Uint8Array(n * K);
  }

  /** Insert j into i's heap if closer than its current worst and not already present. */
  push(i: number, j: number, d: number, flag: number): number {
    const K = this.K, base = i * K, idx = this.idx, dist = this.dist;
    if (!(d < dist[base])) return 0;
    for (let s = 0; s < K; s++) if (idx[base + s] === j) return 0;
    // replace root, sift down
    let pos = 0;
    for (;;) {
      const l = 2 * pos + 1, r = l + 1;
      let big = pos;
      let bigD = d;
      if (l < K && dist[base + l] > bigD) { big = l; bigD = dist[base + l]; }
      if (r < K && dist[base + r] > bigD) { big = r; bigD = dist[base + r]; }
      if (big === pos) break;
      idx[base + pos] = idx[base + big];
      dist[base + pos] = dist[base + big];
      this.isNew[base + pos] = this.isNew[base + big];
      pos = big;
    }
    idx[base + pos] = j;
    dist[base + pos] = d;
    this.isNew[base + pos] = flag;
    return 1;
  }

  toGraph(k: number): KnnGraph {
    const { n, K } = this;
    const indices = new Int32Array(n * k).fill(-1);
    const distances = new Float32Array(n * k).fill(Infinity);
    const order = new Int32Array(K);
    for (let i = 0; i < n; i++) {
      const base = i * K;
      for (let s = 0; s < K; s++) order[s] = s;
      const dist = this.dist;
      order.sort((a, b) => dist[base + a] - dist[base + b]);
      indices[i * k] = i;
      distances[i * k] = 0;
      for (let s = 0; s < K && s + 1 < k; s++) {
        const j = this.idx[base + order[s]];
        if (j < 0) break;
        indices[i * k + s + 1] = j;
        distances[i * k + s + 1] = Math.sqrt(dist[base + order[s]]);
      }
    }
    return { n, k, indices, distances };
  }
}

/** Exact kNN by comparing every pair once (direct differences, robust for duplicates). */
export function knnBruteForce(x: Float32Array, n: number, dim: number, k: number): KnnGraph {
  const K = Math.max(1, k - 1);
  const heaps = new NeighborHeaps(n, K);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const d = sqDist(x, i, j, dim);
      heaps.push(i, j, d, 0);
      heaps.push(j, i, d, 0);
    }
  }
  return heaps.toGraph(k);
}

/** Random projection forest: every pair inside a leaf is offered to both heaps. */
function rpTreeInit(x: Float32Array, n: number, dim: number, heaps: NeighborHeaps, trees: number, leafSize: number, rng: Rng): void {
  const perm = new Int32Array(n);
  const side = new Uint8Array(n);
  const normal = new Float64Array(dim);
  const stack: number[] = [];
  for (let t = 0; t < trees; t++) {
    for (let i = 0; i < n; i++) perm[i] = i;
    stack.push(0, n);
    while (stack.length > 0) {
      const hi = stack.pop()!, lo = stack.pop()!;
      const size = hi - lo;
      if (size <= leafSize) {
        for (let a = lo; a < hi; a++) {
          for (let b = a + 1; b < hi; b++) {
            const pa = perm[a], pb = perm[b];
            const d = sqDist(x, pa, pb, dim);
            heaps.push(pa, pb, d, 1);
            heaps.push(pb, pa, d, 1);
          }
        }
        continue;
      }
      const a = perm[lo + rng.int(size)];
      let b = perm[lo + rng.int(size)];
      for (let tries = 0; tries < 8 && b === a; tries++) b = perm[lo + rng.int(size)];
      let offset = 0;
      for (let p = 0; p < dim; p++) {
        const va = x[a * dim + p], vb = x[b * dim + p];
        normal[p] = va - vb;
        offset += normal[p] * (va + vb) * 0.5;
      }
      let nLeft = 0;
      for (let s = lo; s < hi; s++) {
        const o = perm[s] * dim;
        let m = -offset;
        for (let p = 0; p < dim; p++) m += normal[p] * x[o + p];
        const left = m === 0 ? rng.next() < 0.5 : m > 0;
        side[s - lo] = left ? 1 : 0;
        if (left) nLeft++;
      }
      if (nLeft === 0 || nLeft === size) {
        // degenerate (duplicates): split at random
        nLeft = 0;
        for (let s = 0; s < size; s++) {
          side[s] = rng.next() < 0.5 ? 1 : 0;
          nLeft += side[s];
        }
        if (nLeft === 0 || nLeft === size) { side.fill(0, 0, size); side.fill(1, 0, size >> 1); nLeft = size >> 1; }
      }
      // stable partition into a scratch copy
      const tmp = perm.slice(lo, hi);
      let l = lo, r = lo + nLeft;
      for (let s = 0; s < size; s++) {
        if (side[s]) perm[l++] = tmp[s];
        else perm[r++] = tmp[s];
      }
      stack.push(lo, lo + nLeft, lo + nLeft, hi);
    }
  }
}

/** Reservoir-sample candidate j into list i (capacity cap). */
function addCandidate(list: Int32Array, seen: Int32Array, i: number, j: number, cap: number, rng: Rng): void {
  const c = seen[i]++;
  if (c < cap) list[i * cap + c] = j;
  else {
    const r = rng.int(c + 1);
    if (r < cap) list[i * cap + r] = j;
  }
}

/** Approximate kNN by NN-descent; cold from random projection trees or warm from `opts.init`. */
export function knnDescent(x: Float32Array, n: number, dim: number, k: number, opts: KnnDescentOptions = {}): KnnGraph {
  const rng = new Rng(opts.seed ?? 7);
  const K = Math.max(1, Math.min(k - 1, n - 1));
  const heaps = new NeighborHeaps(n, K);
  const init = opts.init ?? null;
  if (init) {
    const kp = Math.floor(init.length / Math.max(1, n));
    for (let i = 0; i < n; i++) {
      for (let s = 0; s < kp; s++) {
        const j = init[i * kp + s];
        if (j >= 0 && j < n && j !== i) heaps.push(i, j, sqDist(x, i, j, dim), 1);
      }
    }
  } else {
    rpTreeInit(x, n, dim, heaps, opts.trees ?? 4, opts.leafSize ?? Math.max(2 * k, 24), rng);
  }
  // fill incomplete heaps with random points
  for (let i = 0; i < n; i++) {
    for (let tries = 0; heaps.idx[i * K] < 0 && tries < 4 * K + 8; tries++) {
      const j = rng.int(n);
      if (j !== i) heaps.push(i, j, sqDist(x, i, j, dim), 1);
    }
  }
  const cap = Math.max(2, opts.maxCandidates ?? Math.max(K, 8));
  const newC = new Int32Array(n * cap);
  const oldC = new Int32Array(n * cap);
  const newSeen = new Int32Array(n);
  const oldSeen = new Int32Array(n);
  const iterations = opts.iterations ?? (init ? 3 : 12);
  const delta = opts.delta ?? 0.001;
  opts.onRound?.(0, iterations);
  for (let it = 0; it < iterations; it++) {
    newSeen.fill(0);
    oldSeen.fill(0);
    for (let i = 0; i < n; i++) {
      const base = i * K;
      for (let s = 0; s < K; s++) {
        const j = heaps.idx[base + s];
        if (j < 0) continue;
        if (heaps.isNew[base + s]) {
          addCandidate(newC, newSeen, i, j, cap, rng);
          addCandidate(newC, newSeen, j, i, cap, rng);
        } else {
          addCandidate(oldC, oldSeen, i, j, cap, rng);
          addCandidate(oldC, oldSeen, j, i, cap, rng);
        }
      }
    }
    // entries that were sampled as new become old
    for (let i = 0; i < n; i++) {
      const base = i * K, cnt = Math.min(newSeen[i], cap);
      for (let s = 0; s < K; s++) {
        if (!heaps.isNew[base + s]) continue;
        const j = heaps.idx[base + s];
        for (let c = 0; c < cnt; c++) if (newC[i * cap + c] === j) { heaps.isNew[base + s] = 0; break; }
      }
    }
    let updates = 0;
    for (let i = 0; i < n; i++) {
      const nn = Math.min(newSeen[i], cap), no = Math.min(oldSeen[i], cap);
      const nb = i * cap;
      for (let a = 0; a < nn; a++) {
        const p = newC[nb + a];
        for (let b = a + 1; b < nn; b++) {
          const q = newC[nb + b];
          if (p === q) continue;
          const d = sqDist(x, p, q, dim);
          updates += heaps.push(p, q, d, 1) + heaps.push(q, p, d, 1);
        }
        for (let b = 0; b < no; b++) {
          const q = oldC[nb + b];
          if (p === q) continue;
          const d = sqDist(x, p, q, dim);
          updates += heaps.push(p, q, d, 1) + heaps.push(q, p, d, 1);
        }
      }
    }
    opts.onRound?.(it + 1, iterations);
    if (updates <= delta * n * K) break;
  }
  return heaps.toGraph(Math.min(k, n));
}

/**
 * Offer (d, j) to a max-heap of the best `K` candidates (keys `hd`, items `hj`) holding `size`;
 * returns the new size. A candidate no better than the worst of a full heap is dropped.
 */
export function offerBounded(hd: Float64Array, hj: Int32Array, size: number, K: number, d: number, j: number): number {
  if (size < K) {
    let c = size;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (hd[p] >= d) break;
      hd[c] = hd[p]; hj[c] = hj[p]; c = p;
    }
    hd[c] = d; hj[c] = j;
    return size + 1;
  }
  if (K === 0 || !(d < hd[0])) return size;
  let c = 0;
  for (;;) {
    const l = 2 * c + 1;
    if (l >= K) break;
    const r = l + 1 < K && hd[l + 1] > hd[l] ? l + 1 : l;
    if (hd[r] <= d) break;
    hd[c] = hd[r]; hj[c] = hj[r]; c = r;
  }
  hd[c] = d; hj[c] = j;
  return size;
}

/** Neighbours of the first REFINE_HOPS previous neighbours that are offered as candidates too... */
export const REFINE_HOPS = 8;
/** ...each with its first this many neighbours. */
export const REFINE_HOP_WIDTH = 15;

/**
 * A warm frame's kNN graph when the previous frame's graph (`init`, m×k packed indices with the
 * point itself first, −1 for none) is close: exact distances to the previous neighbours and to
 * the first neighbours of the nearest of them (one local join), best k kept. Linear in m, while
 * NN-descent's joins grow with k² (t-SNE's k ≈ 91). Misses only neighbours that moved in from
 * further than two hops; callers check how much of `init` survived.
 */
export function refineNeighbours(z: Float32Array, m: number, dims: number, k: number, init: Int32Array): KnnGraph {
  const K = k - 1; // neighbours besides the point itself
  const indices = new Int32Array(m * k).fill(-1);
  const distances = new Float32Array(m * k).fill(Infinity);
  const seen = new Int32Array(m).fill(-1);
  // the best K candidates so far: a max-heap on squared distance
  const hd = new Float64Array(Math.max(1, K)), hj = new Int32Array(Math.max(1, K));
  const hop = Math.min(k, REFINE_HOP_WIDTH + 1);
  for (let i = 0; i < m; i++) {
    let size = 0;
    seen[i] = i;
    for (let pass = 0, hops = 0; pass <= k && hops <= REFINE_HOPS; pass++) {
      // pass 0: the previous neighbours themselves; pass s: the first neighbours of neighbour s
      const from = pass === 0 ? i : init[i * k + pass - 1];
      if (pass > 0 && (from < 0 || from === i)) continue;
      if (pass > 0) hops++;
      const width = pass === 0 ? k : hop;
      for (let t = 0; t < width; t++) {
        const j = init[from * k + t];
        if (j < 0 || seen[j] === i) continue;
        seen[j] = i;
        size = offerBounded(hd, hj, size, K, sqDist(z, i, j, dims), j);
      }
    }
    // heap → ascending rows (K is small: insertion sort)
    const o = i * k;
    indices[o] = i;
    distances[o] = 0;
    for (let s = 0; s < size; s++) {
      let t = s;
      while (t > 0 && distances[o + t] > Math.sqrt(hd[s])) {
        distances[o + t + 1] = distances[o + t];
        indices[o + t + 1] = indices[o + t];
        t--;
      }
      distances[o + t + 1] = Math.sqrt(hd[s]);
      indices[o + t + 1] = hj[s];
    }
  }
  return { n: m, k, indices, distances };
}
