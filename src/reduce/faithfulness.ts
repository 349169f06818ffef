/**
 * How faithful a 2-D layout is to its frame, measured on a sample so that it can run on every frame:
 * - `trust`: trustworthiness@10 (local structure: are a point's 2-D neighbours its neighbours in
 *   the frame?), on FAITHFULNESS_SAMPLE query points, against neighbours in the pre-reduced space
 *   the layout was fitted in (≤ 32 PCA dimensions; exact full-D neighbours cost ~10× more);
 * - `global`: the rank correlation (Spearman) of the distances between class centroids, 2-D
 *   against full-D, when the frame has at least MIN_CLASSES labelled classes; else of the
 *   distances between GLOBAL_LANDMARKS seeded sample points. Local neighbours can all be right
 *   while the clusters sit in an arrangement taken from another frame: only a global measure
 *   sees that.
 */
import { Rng } from "./rng.ts";
import { sqDistances } from "./kernels.ts";
import { nearest } from "./knn.ts";

/** Neighbours per point of trustworthiness (the usual k = 10). */
export const TRUST_K = 10;
/** Query points of the trustworthiness estimate (the same ones every frame of a layer; ~0.005 standard error). */
export const FAITHFULNESS_SAMPLE = 64;
/** Classes needed for centroid distances to be a global measure (fewer give ≤ 3 pairs). */
export const MIN_CLASSES = 4;
/** Landmarks of the global measure without classes (435 pairs). */
export const GLOBAL_LANDMARKS = 30;

export interface Faithfulness {
  /** Trustworthiness@10, 0‥1 (1: no false 2-D neighbour). */
  trust: number;
  /** Spearman rank correlation of centroid (or landmark) distances, −1‥1; NaN when undefined. */
  global: number;
  /** What `global` compares. */
  globalOf: "classes" | "landmarks";
}

/**
 * The faithfulness of `layout` (2m) to m packed rows: `x` full-D (m×d), `z` the space the layout
 * was fitted in (m×dims, may be `x` itself), `labels` per packed row (−1 = none) or null. `rows`
 * (the original index of each packed row) makes the sample the same original rows however the
 * rows are packed (a warm frame may reorder them), so that layouts of one frame compare on the
 * same points; without it the packed order is the original one.
 */
export function faithfulness(
  x: Float32Array, d: number, z: Float32Array, dims: number, layout: Float32Array, m: number, labels: Int32Array | null, seed = 1,
  rows: Int32Array | null = null,
): Faithfulness {
  const rng = new Rng(seed ^ 0x2f6b1d3);
  const inOriginalOrder = originalOrder(rows, m);
  const pick = (count: number): Int32Array => sample(m, count, rng).map((r) => inOriginalOrder[r]);
  const trust = trustworthiness(z, dims, layout, m, pick(FAITHFULNESS_SAMPLE));
  const byClass = labels === null ? null : classCentroids(x, d, layout, m, labels);
  if (byClass !== null) return { trust, global: spearman(...pairDistances(byClass.high, d, byClass.low, byClass.count)), globalOf: "classes" };
  const marks = pick(GLOBAL_LANDMARKS);
  const high = new Float32Array(marks.length * d);
  const low = new Float32Array(marks.length * 2);
  marks.forEach((r, i) => {
    high.set(x.subarray(r * d, r * d + d), i * d);
    low[2 * i] = layout[2 * r];
    low[2 * i + 1] = layout[2 * r + 1];
  });
  return { trust, global: spearman(...pairDistances(high, d, low, marks.length)), globalOf: "landmarks" };
}

/** The packed rows listed by ascending original index (the identity without `rows`). */
function originalOrder(rows: Int32Array | null, m: number): Int32Array {
  if (rows === null) return Int32Array.from({ length: m }, (_, r) => r);
  let n = 0;
  for (let r = 0; r < m; r++) if (rows[r] + 1 > n) n = rows[r] + 1;
  const at = new Int32Array(n).fill(-1);
  for (let r = 0; r < m; r++) at[rows[r]] = r;
  const out = new Int32Array(m);
  let c = 0;
  for (let o = 0; o < n; o++) if (at[o] >= 0) out[c++] = at[o];
  return out;
}

/** Up to `count` distinct rows of m, seeded (all rows when m ≤ count). */
function sample(m: number, count: number, rng: Rng): Int32Array {
  if (m <= count) return Int32Array.from({ length: m }, (_, i) => i);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(rng.next() * m));
  return Int32Array.from([...picked].sort((a, b) => a - b));
}

/** Sampled trustworthiness@TRUST_K (Venna & Kaski), ranks in `z`, neighbours in the layout. */
function trustworthiness(z: Float32Array, dims: number, layout: Float32Array, m: number, queries: Int32Array): number {
  const k = Math.min(TRUST_K, m - 2);
  if (k < 1 || queries.length === 0) return 1;
  const all = sqDistances(z, m, dims, queries);
  const low = new Float64Array(m);
  let penalty = 0;
  for (let c = 0; c < queries.length; c++) {
    const q = queries[c];
    const high = all.subarray(c * m, c * m + m);
    for (let j = 0; j < m; j++) {
      const dx = layout[2 * q] - layout[2 * j], dy = layout[2 * q + 1] - layout[2 * j + 1];
      low[j] = dx * dx + dy * dy;
    }
    high[q] = low[q] = Infinity; // a point is not its own neighbour
    // a 2-D neighbour no further than the k-th full-space one ranks ≤ k: no penalty, no count
    const kth = high[nearest(high, k)[k - 1]];
    for (const j of nearest(low, k)) {
      const h = high[j];
      if (h <= kth) continue;
      // rank of j among q's full-space neighbours (1 = nearest); ties count in j's favour
      let rank = 1;
      for (let l = 0; l < m; l++) if (high[l] < h) rank++;
      penalty += rank - k;
    }
  }
  const norm = queries.length * k * (2 * m - 3 * k - 1);
  return norm > 0 ? Math.max(0, 1 - (2 / norm) * penalty) : 1;
}

/** Class centroids full-D (count×d) and 2-D (count×2), or null with fewer than MIN_CLASSES classes. */
function classCentroids(x: Float32Array, d: number, layout: Float32Array, m: number, labels: Int32Array): { high: Float32Array; low: Float32Array; count: number } | null {
  const index = new Map<number, number>();
  for (let r = 0; r < m; r++) if (labels[r] >= 0 && !index.has(labels[r])) index.set(labels[r], index.size);
  const count = index.size;
  if (count < MIN_CLASSES) return null;
  const high = new Float64Array(count * d), low = new Float64Array(count * 2), size = new Float64Array(count);
  for (let r = 0; r < m; r++) {
    const c = index.get(labels[r]);
    if (c === undefined) continue;
    size[c]++;
    for (let p = 0; p < d; p++) high[c * d + p] += x[r * d + p];
    low[2 * c] += layout[2 * r];
    low[2 * c + 1] += layout[2 * r + 1];
  }
  for (let c = 0; c < count; c++) {
    for (let p = 0; p < d; p++) high[c * d + p] /= size[c];
    low[2 * c] /= size[c];
    low[2 * c + 1] /= size[c];
  }
  return { high: Float32Array.from(high), low: Float32Array.from(low), count };
}

/** The c(c−1)/2 pairwise distances among c points, full-D and 2-D. */
function pairDistances(high: Float32Array, d: number, low: Float32Array, c: number): [Float64Array, Float64Array] {
  const pairs = (c * (c - 1)) / 2;
  const a = new Float64Array(pairs), b = new Float64Array(pairs);
  let o = 0;
  for (let i = 0; i < c; i++) {
    for (let j = i + 1; j < c; j++, o++) {
      let s = 0;
      for (let p = 0; p < d; p++) {
        const t = high[i * d + p] - high[j * d + p];
        s += t * t;
      }
      a[o] = s;
      const dx = low[2 * i] - low[2 * j], dy = low[2 * i + 1] - low[2 * j + 1];
      b[o] = dx * dx + dy * dy;
    }
  }
  return [a, b];
}

/** Spearman's rank correlation (average ranks for ties); NaN with < 3 values or no spread. */
export function spearman(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  if (n < 3) return NaN;
  const ra = ranks(a), rb = ranks(b);
  const mean = (n + 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = ra[i] - mean, db = rb[i] - mean;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

function ranks(v: Float64Array): Float64Array {
  const order = Array.from(v.keys()).sort((i, j) => v[i] - v[j]);
  const out = new Float64Array(v.length);
  for (let s = 0; s < order.length; ) {
    let e = s;
    while (e + 1 < order.length && v[order[e + 1]] === v[order[s]]) e++;
    const r = (s + e) / 2 + 1;
    for (let t = s; t <= e; t++) out[order[t]] = r;
    s = e + 1;
  }
  return out;
}
