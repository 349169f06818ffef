/**
 * UMAP fuzzy simplicial set over typed arrays: smooth kNN distances (rho, sigma by binary search),
 * membership strengths, and the fuzzy union W + Wᵀ − W∘Wᵀ, returned as a symmetric COO edge list
 * (both directions of every edge, as umap-learn/umap-js feed them to the layout).
 */
import type { KnnGraph } from "./knn.ts";

const SMOOTH_K_TOLERANCE = 1e-5;
const MIN_K_DIST_SCALE = 1e-3;

export interface FuzzyGraph {
  n: number;
  /** Edge e goes head[e] → tail[e] with membership weight[e]; (i, j) and (j, i) both appear. */
  head: Int32Array;
  tail: Int32Array;
  weight: Float32Array;
  sigmas: Float64Array;
  rhos: Float64Array;
}

/** Per-point rho (distance to nearest non-identical neighbour) and sigma, as umap-js/umap-learn. */
export function smoothKnnDist(
  g: KnnGraph, localConnectivity = 1, nIter = 64, bandwidth = 1,
): { sigmas: Float64Array; rhos: Float64Array } {
  const { n, k, indices, distances } = g;
  const target = Math.log2(k) * bandwidth;
  const rhos = new Float64Array(n);
  const sigmas = new Float64Array(n);
  const rowMean = new Float64Array(n);
  let meanAll = 0;
  for (let i = 0; i < n; i++) {
    let s = 0, c = 0;
    for (let j = 0; j < k; j++) {
      if (indices[i * k + j] < 0) continue;
      s += distances[i * k + j];
      c++;
    }
    rowMean[i] = c > 0 ? s / c : 0;
    meanAll += rowMean[i];
  }
  meanAll = n > 0 ? meanAll / n : 0;
  const nonZero = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let nz = 0;
    for (let j = 0; j < k; j++) {
      const dd = distances[o + j];
      if (indices[o + j] >= 0 && dd > 0) nonZero[nz++] = dd;
    }
    if (nz >= localConnectivity) {
      const index = Math.floor(localConnectivity);
      const interp = localConnectivity - index;
      if (index > 0) {
        rhos[i] = nonZero[index - 1];
        if (interp > SMOOTH_K_TOLERANCE) rhos[i] += interp * (nonZero[index] - nonZero[index - 1]);
      } else {
        rhos[i] = interp * nonZero[0];
      }
    } else if (nz > 0) {
      let m = 0;
      for (let j = 0; j < nz; j++) if (nonZero[j] > m) m = nonZero[j];
      rhos[i] = m;
    }
    // The same root as umap-learn's bisection, to the same tolerance, found by Newton steps kept
    // inside the bracket (a bisection step when one would leave it): ~6 evaluations instead of ~30.
    let lo = 0, hi = Infinity, mid = 1;
    for (let it = 0; it < nIter; it++) {
      let psum = 0, slope = 0;
      for (let j = 1; j < k; j++) {
        if (indices[o + j] < 0) continue;
        const dd = distances[o + j] - rhos[i];
        if (dd > 0) {
          const e = Math.exp(-(dd / mid));
          psum += e;
          slope += e * dd;
        } else psum += 1;
      }
      if (Math.abs(psum - target) < SMOOTH_K_TOLERANCE) break;
      if (psum > target) hi = mid;
      else lo = mid;
      // d psum / d sigma = Σ e·dd / sigma²
      const step = mid - ((psum - target) * mid * mid) / slope;
      if (step > lo && step < hi) mid = step;
      else mid = hi === Infinity ? mid * 2 : (lo + hi) / 2;
    }
    sigmas[i] = mid;
    const floor = MIN_K_DIST_SCALE * (rhos[i] > 0 ? rowMean[i] : meanAll);
    if (sigmas[i] < floor) sigmas[i] = floor;
  }
  return { sigmas, rhos };
}

/** Directed membership strengths, n×k aligned with g.indices (0 for self and missing). */
export function membershipStrengths(g: KnnGraph, sigmas: Float64Array, rhos: Float64Array): Float32Array {
  const { n, k, indices, distances } = g;
  const vals = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const e = i * k + j;
      const idx = indices[e];
      if (idx < 0 || idx === i) continue;
      const dd = distances[e] - rhos[i];
      vals[e] = dd <= 0 ? 1 : Math.exp(-(dd / sigmas[i]));
    }
  }
  return vals;
}

export interface FuzzyOptions {
  localConnectivity?: number;
  /** 1 = fuzzy union (default), 0 = fuzzy intersection. */
  setOpMixRatio?: number;
}

export function fuzzySimplicialSet(g: KnnGraph, opts: FuzzyOptions = {}): FuzzyGraph {
  const { n, k, indices } = g;
  const mix = opts.setOpMixRatio ?? 1;
  const { sigmas, rhos } = smoothKnnDist(g, opts.localConnectivity ?? 1);
  const vals = membershipStrengths(g, sigmas, rhos);
  const cap = 2 * n * k;
  const head = new Int32Array(cap), tail = new Int32Array(cap);
  const weight = new Float32Array(cap);
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < k; s++) {
      const j = indices[i * k + s];
      if (j < 0 || j === i) continue;
      const wij = vals[i * k + s];
      let wji = 0, reverse = false;
      for (let t = 0; t < k; t++) {
        if (indices[j * k + t] === i) { wji = vals[j * k + t]; reverse = true; break; }
      }
      const prod = wij * wji;
      const u = mix * (wij + wji - prod) + (1 - mix) * prod;
      if (!(u > 0)) continue;
      head[m] = i; tail[m] = j; weight[m] = u; m++;
      if (!reverse) { head[m] = j; tail[m] = i; weight[m] = u; m++; }
    }
  }
  return { n, head: head.slice(0, m), tail: tail.slice(0, m), weight: weight.slice(0, m), sigmas, rhos };
}
