/**
 * Randomized PCA by subspace iteration with implicit centering, warm-startable from a previous basis.
 * Cold: random Gaussian start, `iterations` (default 3) power steps. Warm: start from the previous
 * basis (1 step by default). Then Rayleigh–Ritz on the subspace to get sorted components.
 */
import { Rng } from "./rng.ts";
import { orthonormalizeRows, symEig } from "./linalg.ts";
import { centeredRows, gram, mulRowsBy, type KernelKind } from "./kernels.ts";

export interface PcaOptions {
  /** Previous full basis (`PcaResult.basis`, l×d row-major) for a warm start. */
  warmBasis?: Float64Array | null;
  /** Previous components (k×d), to keep signs consistent across frames. */
  prevComponents?: Float64Array | null;
  /** Power/subspace iterations; default 3 cold, 1 warm. */
  iterations?: number;
  /**
   * Warm only: project onto the previous basis first and run this frame's subspace-iteration step
   * afterwards, for the next frame (2 passes over x instead of 3). Falls back to iterating before
   * projecting when the previous basis captures less than `minCaptured` of the total variance.
   */
  lagged?: boolean;
  minCaptured?: number;
  /**
   * Lagged path only: false keeps the previous basis for the next frame instead of running this
   * frame's subspace-iteration step (one pass over x fewer); a basis that drifts is caught by
   * `minCaptured`. Default true.
   */
  refine?: boolean;
  /** Called after each pass over x (a product with the data matrix). */
  onPass?: () => void;
  /** Extra basis vectors beyond k (default 8). */
  oversample?: number;
  seed?: number;
}

export interface PcaResult {
  k: number;
  /** Size of the iterated subspace (k + oversample, ≤ d). */
  l: number;
  d: number;
  mean: Float64Array;
  /** l×d orthonormal rows sorted by captured variance: warm-start state for the next frame. */
  basis: Float64Array;
  /** k×d principal directions (first k rows of basis). */
  components: Float64Array;
  /** n×k projections of the centred rows. */
  scores: Float32Array;
  /** Variance along each component (eigenvalue / (n − 1)), length k. */
  variances: Float64Array;
  /** Total variance of the data (trace of the covariance). */
  totalVariance: number;
  /** Fraction of the total variance inside the l-dimensional subspace the scores came from. */
  capturedL: number;
  /** True when the lagged warm path was taken (basis is one step ahead of the components). */
  lagged: boolean;
  /** Which kernels multiplied the data matrix (kernels.ts). */
  kernels: KernelKind;
}

/** PCA of the n×d row-major matrix x to k dimensions. Requires 1 ≤ k ≤ d. */
export function pca(x: Float32Array, n: number, d: number, k: number, opts: PcaOptions = {}): PcaResult {
  if (k < 1 || k > d) throw new Error(`pca: k=${k} must be in [1, d=${d}]`);
  const rng = new Rng(opts.seed ?? 1);
  const rows = centeredRows(x, n, d);
  const { mean, sumSquares } = rows;
  let totalVariance = 0;
  for (let p = 0; p < d; p++) totalVariance += Math.max(0, sumSquares[p] - n * mean[p] * mean[p]);
  totalVariance /= Math.max(1, n - 1);

  const warm = opts.warmBasis && opts.warmBasis.length % d === 0 && opts.warmBasis.length / d >= k
    ? opts.warmBasis : null;
  const l = warm ? warm.length / d : Math.min(d, k + (opts.oversample ?? 8));
  const iterations = opts.iterations ?? (warm ? 1 : 3);

  const vt = new Float64Array(l * d);
  if (warm) vt.set(warm);
  else for (let i = 0; i < vt.length; i++) vt[i] = rng.normal();
  orthonormalizeRows(vt, l, d, rng);

  const y = new Float64Array(n * l);
  let its = iterations, lagged = false;
  if (warm && opts.lagged) {
    rows.project(vt, l, y);
    let ss = 0;
    for (let i = 0; i < y.length; i++) ss += y[i] * y[i];
    const captured = totalVariance > 0 ? ss / Math.max(1, n - 1) / totalVariance : 1;
    if (captured >= (opts.minCaptured ?? 0)) {
      lagged = true;
      its = 0;
    } else {
      // the pass already made is the first half of an iteration
      rows.backProject(y, l, vt);
      orthonormalizeRows(vt, l, d, rng);
      its = Math.max(0, its - 1);
    }
  }
  for (let it = 0; it < its; it++) {
    rows.project(vt, l, y);
    opts.onPass?.();
    rows.backProject(y, l, vt);
    opts.onPass?.();
    orthonormalizeRows(vt, l, d, rng);
  }
  // Rayleigh–Ritz: eigen-decompose Yᵀ Y with Y = Xc · Vtᵀ
  if (!lagged) rows.project(vt, l, y);
  const { values, vectors: w } = symEig(gram(y, n, l), l);

  // rotated basis: basis[c] = Σ_j w[j, c] vt[j]
  const basis = new Float64Array(l * d);
  for (let cc = 0; cc < l; cc++) {
    const bo = cc * d;
    for (let j = 0; j < l; j++) {
      const wj = w[j * l + cc];
      if (wj === 0) continue;
      const vo = j * d;
      for (let p = 0; p < d; p++) basis[bo + p] += wj * vt[vo + p];
    }
  }
  // deterministic signs: agree with the previous components when given, else largest |loading| > 0
  const sign = new Float64Array(l).fill(1);
  const prev = opts.prevComponents && opts.prevComponents.length >= k * d ? opts.prevComponents : null;
  for (let cc = 0; cc < l; cc++) {
    const bo = cc * d;
    if (prev && cc < k) {
      let dot = 0;
      for (let p = 0; p < d; p++) dot += basis[bo + p] * prev[bo + p];
      if (dot < 0) sign[cc] = -1;
    } else {
      let best = 0;
      for (let p = 0; p < d; p++) if (Math.abs(basis[bo + p]) > Math.abs(best)) best = basis[bo + p];
      if (best < 0) sign[cc] = -1;
    }
    if (sign[cc] < 0) for (let p = 0; p < d; p++) basis[bo + p] = -basis[bo + p];
  }
  const scores = mulRowsBy(y, n, l, w, k, sign);
  const variances = new Float64Array(k);
  for (let cc = 0; cc < k; cc++) variances[cc] = Math.max(0, values[cc]) / Math.max(1, n - 1);
  let inL = 0;
  for (let cc = 0; cc < l; cc++) inL += Math.max(0, values[cc]);
  const capturedL = totalVariance > 0 ? Math.min(1, inL / Math.max(1, n - 1) / totalVariance) : 1;
  const components = basis.slice(0, k * d);
  let next = basis;
  if (lagged && opts.refine === false) next = vt;
  else if (lagged) {
    // this frame's subspace-iteration step, used by the next frame
    next = new Float64Array(l * d);
    rows.backProject(y, l, next);
    orthonormalizeRows(next, l, d, rng);
  }
  return { k, l, d, mean, basis: next, components, scores, variances, totalVariance, capturedL, lagged, kernels: rows.kernels };
}
