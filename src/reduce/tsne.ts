/**
 * Live t-SNE of one frame to 2-D: exact kNN affinities (tsne-affinities.ts), Barnes–Hut gradient
 * (tsne-gradient.ts) and openTSNE's optimiser (momentum, per-coordinate gains, step-norm clipping,
 * re-centring every iteration).
 *
 * Cold fit: PCA initialisation rescaled to a standard deviation of 1e-4 (openTSNE's), early
 * exaggeration 12 for 250 iterations at learning rate m/12, then 500 normal iterations at
 * learning rate m (openTSNE's "auto", N / exaggeration, in its gradient convention without the 4;
 * scikit-learn's max(N / exaggeration / 4, 50) is the same rate in its convention, less the floor).
 * Warm frame: start from the previous positions, no exaggeration, fewer iterations at a lower
 * learning rate, so that a frame whose data barely moved keeps its layout.
 */
import { pca } from "./pca.ts";
import { Rng } from "./rng.ts";
import { DEFAULT_PERPLEXITY, effectivePerplexity, exactNeighbours, neighbourCount, tsneAffinities, type TsneAffinities } from "./tsne-affinities.ts";
import { DEFAULT_THETA, TsneGradientWorkspace, tsneGradient } from "./tsne-gradient.ts";

export { DEFAULT_PERPLEXITY, effectivePerplexity, exactNeighbours, tsneAffinities, type TsneAffinities } from "./tsne-affinities.ts";

/** Early exaggeration factor and length (openTSNE's and scikit-learn's): clusters form first. */
export const EARLY_EXAGGERATION = 12;
export const EARLY_EXAGGERATION_ITERATIONS = 250;
/** Iterations after the exaggeration phase of a cold fit (openTSNE's default n_iter). */
export const NORMAL_ITERATIONS = 500;
/** A cold fit: exaggeration phase plus normal phase, 750 in all (openTSNE's schedule). */
export const DEFAULT_COLD_ITERATIONS = EARLY_EXAGGERATION_ITERATIONS + NORMAL_ITERATIONS;
/** A warm frame: the previous layout is already a t-SNE minimum of a nearby P. */
export const DEFAULT_WARM_ITERATIONS = 50;
/** Warm learning rate as a share of the cold normal phase's: smaller steps leave a settled layout in place. */
export const WARM_LEARNING_RATE_SHARE = 0.25;
/** openTSNE's momentum in both phases (its 1.0 default; the classic 0.5 → 0.8 converges no better). */
export const MOMENTUM = 0.8;
/** Gains: +GAIN_UP when the gradient flips sign against the last update, ×GAIN_DOWN (+MIN_GAIN) otherwise. */
const GAIN_UP = 0.2, GAIN_DOWN = 0.8, MIN_GAIN = 0.01;
/** No point moves further than this in one iteration (openTSNE's max_step_norm): no point shoots off. */
const MAX_STEP = 5;
/** openTSNE rescales its PCA initialisation to this standard deviation of the first coordinate. */
const INIT_STD = 1e-4;
/** Progress is reported every this many iterations. */
const PROGRESS_EVERY = 10;

export interface TsneOptions {
  /** Perplexity (default DEFAULT_PERPLEXITY = 30), clamped to (m − 1)/3 for tiny m (see effectivePerplexity). */
  perplexity?: number;
  /**
   * Start positions (2m interleaved x, y). Given => warm start: no early exaggeration, fewer
   * iterations, smaller steps. null/undefined => cold fit from a PCA initialisation.
   */
  init?: Float32Array | null;
  /** Iterations (defaults: cold DEFAULT_COLD_ITERATIONS, warm DEFAULT_WARM_ITERATIONS). */
  iterations?: number;
  seed?: number;
  /** Progress callback, called every few iterations with (done, total). */
  onIteration?: (done: number, total: number) => void;
  /** Precomputed affinities for these rows (e.g. from a reused kNN graph); skips the kNN. */
  affinities?: TsneAffinities | null;
  /** Barnes–Hut θ (default DEFAULT_THETA; at most 0.7). */
  theta?: number;
}

/** Affinities of m rows of z at a perplexity: exact kNN with 3·perplexity neighbours, then P. */
export function tsneAffinitiesOf(z: Float32Array, m: number, dims: number, perplexity = DEFAULT_PERPLEXITY): TsneAffinities {
  const perp = effectivePerplexity(m, perplexity);
  const graph = exactNeighbours(z, m, dims, neighbourCount(m, perp) + 1);
  return tsneAffinities(graph, perp);
}

/** Cold start: the first two principal components of z, scaled to std INIT_STD (random if degenerate). */
function coldInit(z: Float32Array, m: number, dims: number, seed: number): Float64Array {
  const y = new Float64Array(2 * m);
  const rng = new Rng(seed ^ 0x27d4eb2f);
  let sd = 0;
  if (dims >= 1) {
    const k = Math.min(2, dims);
    const scores = pca(z, m, dims, k, { seed, iterations: 4 }).scores;
    for (let i = 0; i < m; i++) { y[2 * i] = scores[i * k]; y[2 * i + 1] = k > 1 ? scores[i * k + 1] : 0; }
    let mean = 0;
    for (let i = 0; i < m; i++) mean += y[2 * i];
    mean /= m;
    for (let i = 0; i < m; i++) sd += (y[2 * i] - mean) ** 2;
    sd = Math.sqrt(sd / m);
  }
  if (!(sd > 0) || !Number.isFinite(sd)) {
    for (let i = 0; i < 2 * m; i++) y[i] = rng.normal() * INIT_STD;
    return y;
  }
  // a little seeded jitter separates duplicate rows (identical positions have a zero gradient between them)
  for (let i = 0; i < 2 * m; i++) y[i] = (y[i] / sd) * INIT_STD + rng.normal() * INIT_STD * 1e-3;
  return y;
}

/** Warm start: the given positions; non-finite ones are placed at the centroid plus seeded jitter. */
function warmInit(init: Float32Array, m: number, seed: number): Float64Array {
  const y = new Float64Array(2 * m);
  const rng = new Rng(seed ^ 0x165667b1);
  let cx = 0, cy = 0, c = 0, r2 = 0;
  for (let i = 0; i < m; i++) {
    const a = init[2 * i], b = init[2 * i + 1];
    if (Number.isFinite(a) && Number.isFinite(b)) { cx += a; cy += b; c++; }
  }
  if (c > 0) { cx /= c; cy /= c; }
  for (let i = 0; i < m; i++) {
    const a = init[2 * i], b = init[2 * i + 1];
    if (Number.isFinite(a) && Number.isFinite(b)) r2 += (a - cx) ** 2 + (b - cy) ** 2;
  }
  const jitter = c > 0 && r2 > 0 ? 1e-3 * Math.sqrt(r2 / c) : INIT_STD;
  for (let i = 0; i < m; i++) {
    const a = init[2 * i], b = init[2 * i + 1];
    const ok = Number.isFinite(a) && Number.isFinite(b);
    y[2 * i] = ok ? a : cx + jitter * rng.normal();
    y[2 * i + 1] = ok ? b : cy + jitter * rng.normal();
  }
  return y;
}

/** t-SNE of m rows of z (m×dims row-major, already PCA-reduced by the caller) to 2-D; returns 2m positions. */
export function tsneEmbed(z: Float32Array, m: number, dims: number, opts: TsneOptions = {}): Float32Array {
  const seed = opts.seed ?? 1;
  if (m <= 0) return new Float32Array(0);
  if (m === 1) return new Float32Array(2);
  const warm = opts.init != null && opts.init.length >= 2 * m;
  const P = opts.affinities && opts.affinities.m === m ? opts.affinities : tsneAffinitiesOf(z, m, dims, opts.perplexity);
  const y = warm ? warmInit(opts.init!, m, seed) : coldInit(z, m, dims, seed);
  const total = Math.max(0, Math.floor(opts.iterations ?? (warm ? DEFAULT_WARM_ITERATIONS : DEFAULT_COLD_ITERATIONS)));
  const theta = Math.min(0.7, Math.max(0, opts.theta ?? DEFAULT_THETA));
  // cold: the exaggeration phase keeps its share of a shortened schedule
  const eeIters = warm ? 0 : Math.round(total * (EARLY_EXAGGERATION_ITERATIONS / DEFAULT_COLD_ITERATIONS));
  // openTSNE's "auto" learning rate, m / exaggeration. Σ_j p_ij ≈ 1/m, so the attraction moves a point
  // by lr·exaggeration/m = 1 times its offset from its neighbours per step: any larger and it overshoots
  // (scikit-learn's floor of 50 in its 4× convention would diverge for m below ~2,400 here).
  const lrNormal = m;
  const lrEarly = m / EARLY_EXAGGERATION;
  const lrWarm = lrNormal * WARM_LEARNING_RATE_SHARE;

  const grad = new Float64Array(2 * m), update = new Float64Array(2 * m);
  const gains = new Float64Array(2 * m).fill(1);
  const ws = new TsneGradientWorkspace(m);
  const hasEdges = P.vals.length > 0;
  for (let it = 0; it < total && hasEdges; it++) {
    const early = it < eeIters;
    const exaggeration = early ? EARLY_EXAGGERATION : 1;
    const lr = warm ? lrWarm : early ? lrEarly : lrNormal;
    tsneGradient(y, P, exaggeration, grad, ws, theta);
    for (let i = 0; i < 2 * m; i++) {
      const g = grad[i];
      if ((update[i] > 0) !== (g > 0) || update[i] === 0) gains[i] += GAIN_UP;
      else gains[i] = gains[i] * GAIN_DOWN + MIN_GAIN;
      update[i] = MOMENTUM * update[i] - lr * gains[i] * g;
    }
    let cx = 0, cy = 0;
    for (let i = 0; i < m; i++) {
      let ux = update[2 * i], uy = update[2 * i + 1];
      const norm = Math.sqrt(ux * ux + uy * uy);
      if (norm > MAX_STEP) { ux *= MAX_STEP / norm; uy *= MAX_STEP / norm; update[2 * i] = ux; update[2 * i + 1] = uy; }
      y[2 * i] += ux; y[2 * i + 1] += uy;
      cx += y[2 * i]; cy += y[2 * i + 1];
    }
    cx /= m; cy /= m;
    for (let i = 0; i < m; i++) { y[2 * i] -= cx; y[2 * i + 1] -= cy; }
    if (opts.onIteration && ((it + 1) % PROGRESS_EVERY === 0 || it + 1 === total)) opts.onIteration(it + 1, total);
  }
  if (!hasEdges && opts.onIteration) opts.onIteration(total, total);
  const out = new Float32Array(2 * m);
  for (let i = 0; i < 2 * m; i++) out[i] = Number.isFinite(y[i]) ? y[i] : 0;
  return out;
}
