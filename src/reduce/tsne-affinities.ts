/**
 * t-SNE input affinities over typed arrays: exact k-nearest neighbours (k = 3·perplexity, as
 * openTSNE and bhtsne), a per-point Gaussian bandwidth found by binary search so that each row's
 * conditional distribution has the requested perplexity, then P = (P_cond + P_condᵀ) / (2m) as a
 * sparse symmetric CSR matrix that sums to 1.
 */
import { offerBounded, type KnnGraph } from "./knn.ts";

/** t-SNE's perplexity (openTSNE's and scikit-learn's default): roughly the effective neighbour count. */
export const DEFAULT_PERPLEXITY = 30;
/** Neighbours per point are this multiple of the perplexity (beyond it the Gaussian weights are ~0). */
export const NEIGHBOURS_PER_PERPLEXITY = 3;
/** Binary search on the Gaussian precision stops when the entropy is this close (nats)… */
const ENTROPY_TOLERANCE = 1e-5;
/** …or after this many halvings. */
const MAX_BANDWIDTH_STEPS = 100;

/** Sparse symmetric affinities P (CSR, both directions of every pair stored), Σ P = 1. */
export interface TsneAffinities {
  m: number;
  /** Row i's entries are cols/vals[rowPtr[i] … rowPtr[i+1]). */
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
  /** The perplexity actually used (clamped for tiny m). */
  perplexity: number;
}

/**
 * The perplexity used for m points: the request, but no more than (m − 1)/3 so that the 3·perplexity
 * neighbours exist, and at least 1 (a perplexity below 1 means an entropy below 0: unreachable).
 */
export function effectivePerplexity(m: number, perplexity = DEFAULT_PERPLEXITY): number {
  const p = Number.isFinite(perplexity) && perplexity > 0 ? perplexity : DEFAULT_PERPLEXITY;
  return Math.max(1, Math.min(p, (m - 1) / NEIGHBOURS_PER_PERPLEXITY));
}

/** Neighbours per point, excluding itself, for a perplexity and m points. */
export function neighbourCount(m: number, perplexity: number): number {
  return Math.max(0, Math.min(m - 1, Math.floor(NEIGHBOURS_PER_PERPLEXITY * perplexity)));
}

/**
 * Exact kNN (Euclidean) of m rows of z (m×dims) in the convention of knn.ts: k counts the point
 * itself, rows sorted by distance. knnBruteForce tries every pair and NN-descent's local joins grow
 * with k², which at t-SNE's k ≈ 91 costs seconds for 5,000 points. Here a ball tree (2-means-like
 * splits along the two far points' axis) prunes every ball whose nearest possible point is further
 * than the query's current k-th neighbour: clustered activations skip the other clusters whole.
 */
export function exactNeighbours(z: Float32Array, m: number, dims: number, k: number): KnnGraph {
  const kk = Math.max(1, Math.min(k, m));
  const K = kk - 1; // neighbours besides the point itself
  const indices = new Int32Array(m * kk).fill(-1);
  const distances = new Float32Array(m * kk).fill(Infinity);
  for (let i = 0; i < m; i++) { indices[i * kk] = i; distances[i * kk] = 0; }
  if (K === 0) return { n: m, k: kk, indices, distances };
  const t = buildBallTree(z, m, dims);
  const { perm, lo, hi, left, right, radius, center } = t;
  // max-heap of (squared distance, index), K slots
  const hd = new Float64Array(K), hj = new Int32Array(K);
  const sortIdx = new Int32Array(K);
  const head = Math.min(dims, PARTIAL_DIMS);
  const seen = new Int32Array(m);
  const stack = new Int32Array(2 * 64 + 8), stackD = new Float64Array(stack.length);
  for (let s = 0; s < m; s++) {
    const i = perm[s]; // queries in tree order: consecutive queries share their leaves (cache)
    const io = i * dims;
    let size = 0;
    // seed the heap with the previous query (its neighbour in tree order) and its neighbours: a tight
    // k-th distance from the start lets the partial sums and the ball bounds reject most candidates
    if (s > 0) {
      const prev = perm[s - 1], po = prev * kk;
      for (let q = 0; q < kk && size < K; q++) {
        const j = indices[po + q];
        if (j < 0 || j === i) continue;
        seen[j] = s + 1;
        let d2 = 0;
        const jo = j * dims;
        for (let p = 0; p < dims; p++) { const u = z[io + p] - z[jo + p]; d2 += u * u; }
        size = offerBounded(hd, hj, size, K, d2, j);
      }
    }
    let sp = 0;
    stack[sp] = 0; stackD[sp++] = 0;
    while (sp > 0) {
      const v = stack[--sp];
      const bound = stackD[sp];
      if (size === K && bound * bound >= hd[0]) continue;
      if (left[v] < 0) {
        for (let r = lo[v]; r < hi[v]; r++) {
          const j = perm[r];
          if (j === i || seen[j] === s + 1) continue;
          const jo = j * dims;
          const worst = size === K ? hd[0] : Infinity;
          // partial sums are lower bounds: PCA scores put most of the distance in the first columns
          let d2 = 0, p = 0;
          for (; p < head; p++) { const u = z[io + p] - z[jo + p]; d2 += u * u; }
          if (!(d2 < worst)) continue;
          for (; p < dims; p++) { const u = z[io + p] - z[jo + p]; d2 += u * u; }
          if (!(d2 < worst)) continue;
          size = offerBounded(hd, hj, size, K, d2, j);
        }
        continue;
      }
      // lower bounds of both children (distance to centre minus radius); push the nearer one last
      const a = left[v], b = right[v];
      const ba = Math.max(0, Math.sqrt(centreDist2(z, io, center, a, dims)) - radius[a]);
      const bb = Math.max(0, Math.sqrt(centreDist2(z, io, center, b, dims)) - radius[b]);
      if (sp + 2 > stack.length) throw new Error("exactNeighbours: ball tree too deep");
      if (ba <= bb) { stack[sp] = b; stackD[sp++] = bb; stack[sp] = a; stackD[sp++] = ba; }
      else { stack[sp] = a; stackD[sp++] = ba; stack[sp] = b; stackD[sp++] = bb; }
    }
    for (let q = 0; q < size; q++) sortIdx[q] = q;
    const view = sortIdx.subarray(0, size);
    view.sort((x, y) => hd[x] - hd[y] || hj[x] - hj[y]);
    for (let q = 0; q < size; q++) {
      indices[i * kk + 1 + q] = hj[view[q]];
      distances[i * kk + 1 + q] = Math.sqrt(hd[view[q]]);
    }
  }
  return { n: m, k: kk, indices, distances };
}

function centreDist2(z: Float32Array, io: number, center: Float64Array, v: number, dims: number): number {
  const co = v * dims;
  let s = 0;
  for (let p = 0; p < dims; p++) { const u = z[io + p] - center[co + p]; s += u * u; }
  return s;
}

interface BallTree {
  /** Rows in tree order; node v holds perm[lo[v] … hi[v]). */
  perm: Int32Array;
  lo: Int32Array;
  hi: Int32Array;
  /** Children (−1 for a leaf). */
  left: Int32Array;
  right: Int32Array;
  center: Float64Array;
  radius: Float64Array;
}

/** A candidate's distance over this many leading columns is checked against the k-th best first. */
const PARTIAL_DIMS = 8;
/** Balls of at most this many rows are leaves (scanned directly). */
const BALL_LEAF_SIZE = 96;

function buildBallTree(z: Float32Array, m: number, dims: number): BallTree {
  const cap = 2 * Math.ceil(m / (BALL_LEAF_SIZE / 2)) + 2;
  const perm = new Int32Array(m);
  for (let i = 0; i < m; i++) perm[i] = i;
  const lo = new Int32Array(cap), hi = new Int32Array(cap);
  const left = new Int32Array(cap).fill(-1), right = new Int32Array(cap).fill(-1);
  const center = new Float64Array(cap * dims), radius = new Float64Array(cap);
  const proj = new Float64Array(m), axis = new Float64Array(dims);
  let nodes = 0;
  const far = (from: Float64Array | Float32Array, fo: number, a: number, b: number): number => {
    let best = perm[a], bestD = -1;
    for (let r = a; r < b; r++) {
      const jo = perm[r] * dims;
      let d2 = 0;
      for (let p = 0; p < dims; p++) { const u = z[jo + p] - from[fo + p]; d2 += u * u; }
      if (d2 > bestD) { bestD = d2; best = perm[r]; }
    }
    return best;
  };
  const build = (a: number, b: number, depth: number): number => {
    const v = nodes++;
    lo[v] = a; hi[v] = b;
    const co = v * dims;
    for (let r = a; r < b; r++) { const jo = perm[r] * dims; for (let p = 0; p < dims; p++) center[co + p] += z[jo + p]; }
    for (let p = 0; p < dims; p++) center[co + p] /= b - a;
    let r2 = 0;
    for (let r = a; r < b; r++) r2 = Math.max(r2, centreDist2(z, perm[r] * dims, center, v, dims));
    radius[v] = Math.sqrt(r2) * (1 + 1e-6) + 1e-12; // margin: rounding never prunes a true neighbour
    if (b - a <= BALL_LEAF_SIZE || depth >= 60 || r2 === 0) return v;
    // split at the median projection on the axis between two mutually far rows
    const p1 = far(center, co, a, b), p2 = far(z, p1 * dims, a, b);
    for (let p = 0; p < dims; p++) axis[p] = z[p2 * dims + p] - z[p1 * dims + p];
    for (let r = a; r < b; r++) {
      const jo = perm[r] * dims;
      let s = 0;
      for (let p = 0; p < dims; p++) s += z[jo + p] * axis[p];
      proj[perm[r]] = s;
    }
    const sub = perm.subarray(a, b);
    sub.sort((x, y) => proj[x] - proj[y] || x - y);
    const mid = (a + b) >> 1;
    left[v] = build(a, mid, depth + 1);
    right[v] = build(mid, b, depth + 1);
    return v;
  };
  build(0, m, 0);
  return { perm, lo, hi, left, right, center, radius };
}

/**
 * Conditional affinities p_{j|i} ∝ exp(−β_i·d²_ij) over each row's neighbours, β_i by binary search so
 * that the row's entropy is ln(perplexity); then symmetrised and normalised. Any KnnGraph in the
 * knn.ts convention works (exact or NN-descent), so a caller can reuse a graph it already has.
 */
export function tsneAffinities(g: KnnGraph, perplexity = DEFAULT_PERPLEXITY): TsneAffinities {
  const { n: m, k, indices, distances } = g;
  const perp = effectivePerplexity(m, perplexity);
  const target = Math.log(perp);
  const cond = new Float64Array(m * k);
  const d2 = new Float64Array(k);
  for (let i = 0; i < m; i++) {
    const o = i * k;
    let c = 0, dMin = Infinity;
    for (let s = 0; s < k; s++) {
      const j = indices[o + s];
      if (j < 0 || j === i) continue;
      const dd = distances[o + s];
      d2[s] = dd * dd;
      if (d2[s] < dMin) dMin = d2[s];
      c++;
    }
    if (c === 0) continue;
    // distances are shifted by the smallest so exp() never underflows to an all-zero row
    // start at 1 / mean shifted distance (right order of magnitude: saves most of the halvings)
    let mean = 0;
    for (let s = 0; s < k; s++) if (indices[o + s] >= 0 && indices[o + s] !== i) mean += d2[s] - dMin;
    mean /= c;
    let beta = mean > 0 ? 1 / mean : 1, lo = 0, hi = Infinity, sum = 0;
    for (let step = 0; step < MAX_BANDWIDTH_STEPS; step++) {
      sum = 0;
      let dSum = 0, d2Sum = 0;
      for (let s = 0; s < k; s++) {
        const j = indices[o + s];
        if (j < 0 || j === i) continue;
        const e = d2[s] - dMin;
        const w = Math.exp(-beta * e);
        cond[o + s] = w;
        sum += w;
        dSum += w * e;
        d2Sum += w * e * e;
      }
      // H = ln Σw + β·E[d² − dMin]; dH/dβ = −β·Var[d² − dMin]
      const mean = dSum / sum;
      const entropy = Math.log(sum) + beta * mean;
      if (Math.abs(entropy - target) < ENTROPY_TOLERANCE) break;
      if (entropy > target) lo = beta;
      else hi = beta;
      // A Newton step (a handful of steps instead of ~30 halvings), bisection when it leaves the bracket.
      const slope = -beta * (d2Sum / sum - mean * mean);
      const newton = slope < 0 ? beta - (entropy - target) / slope : NaN;
      if (newton > lo && newton < hi) beta = newton;
      else if (entropy > target) beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      else beta = (beta + lo) / 2;
    }
    for (let s = 0; s < k; s++) cond[o + s] /= sum;
  }
  // symmetrise: entry (i, j) gets p_{j|i} and p_{i|j}; both directions land in both rows
  const deg = new Int32Array(m + 1);
  for (let i = 0; i < m; i++) {
    for (let s = 0; s < k; s++) {
      const j = indices[i * k + s];
      if (j < 0 || j === i || !(cond[i * k + s] > 0)) continue;
      deg[i + 1]++; deg[j + 1]++;
    }
  }
  for (let i = 0; i < m; i++) deg[i + 1] += deg[i];
  const rawCols = new Int32Array(deg[m]), rawVals = new Float64Array(deg[m]);
  const fill = deg.slice(0, m);
  for (let i = 0; i < m; i++) {
    for (let s = 0; s < k; s++) {
      const j = indices[i * k + s], v = cond[i * k + s];
      if (j < 0 || j === i || !(v > 0)) continue;
      rawCols[fill[i]] = j; rawVals[fill[i]++] = v;
      rawCols[fill[j]] = i; rawVals[fill[j]++] = v;
    }
  }
  // merge duplicate columns per row (a pair that is a neighbour both ways appears twice); `slot[j]`
  // remembers where column j went in the current row
  const rowPtr = new Int32Array(m + 1);
  const cols = new Int32Array(deg[m]), vals = new Float64Array(deg[m]);
  const slot = new Int32Array(m).fill(-1);
  let nnz = 0, total = 0;
  for (let i = 0; i < m; i++) {
    for (let e = deg[i]; e < deg[i + 1]; e++) {
      const j = rawCols[e];
      total += rawVals[e];
      if (slot[j] >= rowPtr[i]) vals[slot[j]] += rawVals[e];
      else { slot[j] = nnz; cols[nnz] = j; vals[nnz++] = rawVals[e]; }
    }
    rowPtr[i + 1] = nnz;
  }
  if (total > 0) for (let e = 0; e < nnz; e++) vals[e] /= total;
  return { m, rowPtr, cols: cols.slice(0, nnz), vals: vals.slice(0, nnz), perplexity: perp };
}
