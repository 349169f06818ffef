/**
 * Embedding quality, shared by tests and the benchmark:
 * - trustworthiness@k and kNN recall@k of a 2-D embedding, exact against full-dimensional
 *   neighbours over a seeded sample of query points;
 * - frame-to-frame displacement after Procrustes alignment, relative to the embedding's scale.
 */
import { Rng } from "../../src/reduce/rng.ts";
import { alignTo } from "../../src/reduce/procrustes.ts";
import type { KnnGraph } from "../../src/reduce/knn.ts";

export interface QualityReference {
  n: number;
  d: number;
  k: number;
  /** Query rows (indices into x). */
  queries: Int32Array;
  /** Rows used (finite in x); queries and neighbours are drawn from these. */
  valid: Uint8Array;
  nValid: number;
  /** m×k exact full-D neighbours of each query (excluding itself). */
  neighbors: Int32Array;
  /** m×(nValid−1) sorted full-D distances from each query to the other valid rows (for ranks). */
  sorted: Float32Array;
  x: Float32Array;
}

function rowFinite(x: Float32Array, i: number, d: number): boolean {
  for (let p = 0; p < d; p++) if (!Number.isFinite(x[i * d + p])) return false;
  return true;
}

function dist2(x: Float32Array, i: number, j: number, d: number): number {
  let s = 0;
  const a = i * d, b = j * d;
  for (let p = 0; p < d; p++) {
    const t = x[a + p] - x[b + p];
    s += t * t;
  }
  return s;
}

/** Exact full-D neighbour structure for `queries` (default 500) seeded query rows. */
export function qualityReference(
  x: Float32Array, n: number, d: number, opts: { k?: number; queries?: number; seed?: number } = {},
): QualityReference {
  const k = opts.k ?? 10;
  const valid = new Uint8Array(n);
  const validIdx: number[] = [];
  for (let i = 0; i < n; i++) if (rowFinite(x, i, d)) { valid[i] = 1; validIdx.push(i); }
  const nValid = validIdx.length;
  const m = Math.min(opts.queries ?? 500, nValid);
  // seeded sample without replacement (partial Fisher–Yates)
  const rng = new Rng(opts.seed ?? 12345);
  const pool = Int32Array.from(validIdx);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(pool.length - i);
    const t = pool[i]; pool[i] = pool[j]; pool[j] = t;
  }
  const queries = pool.slice(0, m).sort();
  const w = Math.max(0, nValid - 1);
  const sorted = new Float32Array(m * w);
  const neighbors = new Int32Array(m * k).fill(-1);
  const dist = new Float32Array(w), who = new Int32Array(w);
  const kk = Math.min(k, w);
  const bestD = new Float32Array(kk), bestJ = new Int32Array(kk);
  for (let q = 0; q < m; q++) {
    const i = queries[q];
    let c = 0;
    for (const j of validIdx) {
      if (j === i) continue;
      dist[c] = Math.sqrt(dist2(x, i, j, d));
      who[c] = j;
      c++;
    }
    // exact k nearest (ties by index) by insertion into a sorted top-k
    bestD.fill(Infinity);
    bestJ.fill(-1);
    for (let t = 0; t < w; t++) {
      const e = dist[t];
      if (bestJ[kk - 1] >= 0 && !(e < bestD[kk - 1])) continue;
      let s = kk - 1;
      while (s > 0 && (bestJ[s - 1] < 0 || bestD[s - 1] > e)) { bestD[s] = bestD[s - 1]; bestJ[s] = bestJ[s - 1]; s--; }
      bestD[s] = e; bestJ[s] = who[t];
    }
    neighbors.set(bestJ, q * k);
    dist.sort(); // native numeric sort of the distances, for ranks
    sorted.set(dist, q * w);
  }
  return { n, d, k, queries, valid, nValid, neighbors, sorted, x };
}

export interface EmbeddingQuality {
  trustworthiness: number;
  /** Mean fraction of each query's k nearest 2-D neighbours that are among its k nearest full-D ones. */
  knnRecall: number;
  queries: number;
}

/** Evaluate a 2-D embedding (n×2) against a reference built on the same rows. */
export function embeddingQuality(ref: QualityReference, y: Float32Array): EmbeddingQuality {
  const { n, d, k, queries, valid, x, nValid } = ref;
  const m = queries.length;
  const w = Math.max(0, nValid - 1);
  const kk = Math.min(k, w);
  if (m === 0 || kk === 0) return { trustworthiness: 1, knnRecall: 1, queries: 0 };
  const usable = new Uint8Array(n);
  for (let i = 0; i < n; i++) usable[i] = valid[i] && Number.isFinite(y[2 * i]) && Number.isFinite(y[2 * i + 1]) ? 1 : 0;
  const bestD = new Float64Array(kk), bestJ = new Int32Array(kk);
  const cand = bestJ;
  const inHigh = new Uint8Array(n);
  let penalty = 0, hits = 0;
  for (let q = 0; q < m; q++) {
    const i = queries[q];
    bestD.fill(Infinity);
    bestJ.fill(-1);
    const xi = y[2 * i], yi = y[2 * i + 1];
    for (let j = 0; j < n; j++) {
      if (j === i || !valid[j]) continue;
      let e2 = Infinity;
      if (usable[j] && usable[i]) {
        const dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
        e2 = dx * dx + dy * dy;
      }
      if (e2 < bestD[kk - 1] || bestJ[kk - 1] < 0) {
        // insertion into the sorted top-k
        let t = kk - 1;
        while (t > 0 && (bestJ[t - 1] < 0 || bestD[t - 1] > e2)) {
          bestD[t] = bestD[t - 1]; bestJ[t] = bestJ[t - 1]; t--;
        }
        bestD[t] = e2; bestJ[t] = j;
      }
    }
    for (let t = 0; t < kk; t++) inHigh[ref.neighbors[q * k + t]] = 1;
    for (let t = 0; t < kk; t++) {
      const j = cand[t];
      if (inHigh[j]) { hits++; continue; }
      // rank of j among i's full-D neighbours (1-based): count of strictly closer rows + 1
      const dj = Math.fround(Math.sqrt(dist2(x, i, j, d))); // same rounding as `sorted`
      let lo = 0, hi = w;
      const base = q * w;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ref.sorted[base + mid] < dj) lo = mid + 1; else hi = mid;
      }
      const rank = Math.max(lo + 1, kk + 1);
      penalty += rank - kk;
    }
    for (let t = 0; t < kk; t++) inHigh[ref.neighbors[q * k + t]] = 0;
  }
  const N = nValid;
  const denom = m * kk * (2 * N - 3 * kk - 1);
  const trust = denom > 0 ? 1 - (2 / denom) * penalty : 1;
  return { trustworthiness: trust, knnRecall: hits / (m * kk), queries: m };
}

/** Convenience: reference + evaluation in one call. */
export function quality(
  x: Float32Array, n: number, d: number, y: Float32Array, opts: { k?: number; queries?: number; seed?: number } = {},
): EmbeddingQuality {
  return embeddingQuality(qualityReference(x, n, d, opts), y);
}

/**
 * Displacement of `next` relative to `prev` after aligning next onto prev with orthogonal
 * Procrustes (rotation/reflection + translation): RMS point distance / RMS radius of prev
 * about its centroid. Rows non-finite in either are ignored. 0 = identical up to rigid motion.
 */
export function displacement(prev: Float32Array, next: Float32Array, n: number): number {
  const aligned = alignTo(next, prev, n);
  let cx = 0, cy = 0, c = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(prev[2 * i] + prev[2 * i + 1] + aligned[2 * i] + aligned[2 * i + 1])) continue;
    cx += prev[2 * i]; cy += prev[2 * i + 1]; c++;
  }
  if (c === 0) return 0;
  cx /= c; cy /= c;
  let sd = 0, sr = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(prev[2 * i] + prev[2 * i + 1] + aligned[2 * i] + aligned[2 * i + 1])) continue;
    const dx = aligned[2 * i] - prev[2 * i], dy = aligned[2 * i + 1] - prev[2 * i + 1];
    sd += dx * dx + dy * dy;
    const rx = prev[2 * i] - cx, ry = prev[2 * i + 1] - cy;
    sr += rx * rx + ry * ry;
  }
  return sr > 0 ? Math.sqrt(sd / sr) : 0;
}

/** Mean fraction of b's neighbours (excluding self) found in a's rows: recall of a against b. */
export function knnGraphRecall(a: KnnGraph, b: KnnGraph): number {
  const n = Math.min(a.n, b.n);
  let hits = 0, total = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < b.k; s++) {
      const j = b.indices[i * b.k + s];
      if (j < 0 || j === i) continue;
      total++;
      for (let t = 0; t < a.k; t++) if (a.indices[i * a.k + t] === j) { hits++; break; }
    }
  }
  return total > 0 ? hits / total : 1;
}
