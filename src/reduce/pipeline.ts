/**
 * LayerReducer: warm-started reduction of one layer's frames to 2-D ("umap" or "pca").
 * Frame 1 is a cold fit; later frames with the same n and d start from the previous frame's PCA
 * basis, kNN graph and 2-D positions, and the result is Procrustes-aligned to the previous output.
 * Synchronous and DOM-free: runs in a Web Worker or in Node.
 *
 * A frame goes through named stages: `finiteRows` (rows with NaN/Inf are left out), then
 * `trivialLayout`, `pcaLayout` or the UMAP stages `preReduce` → `neighbours` → `initialLayout` →
 * layout optimisation, and `finish` (scatter back to all rows, align, keep the warm state).
 */
import { pca, type PcaResult } from "./pca.ts";
import { knnBruteForce, knnDescent, type KnnGraph } from "./knn.ts";
import { fuzzySimplicialSet } from "./fuzzy.ts";
import { defaultEpochs, optimizeLayout, pcaInit } from "./layout.ts";
import { alignTo } from "./procrustes.ts";
import type { ReduceMethod } from "../contract.ts";

/** UMAP's neighbours per point, counting the point itself (umap-learn's default). */
export const DEFAULT_N_NEIGHBORS = 15;
/** Dimensions kept by the PCA pre-reduction before kNN: neighbours in 32 PCs match full-D ones closely. */
export const DEFAULT_PCA_DIMS = 32;
/** Layout epochs of a warm frame: the previous positions are close already. */
export const DEFAULT_WARM_EPOCHS = 40;
/** Initial learning rate of a warm layout (a cold fit starts at 1): small steps keep points in place. */
export const DEFAULT_WARM_ALPHA = 0.1;
/** Below this many points a cold kNN is exact (brute force is fast enough and NN-descent has no edge). */
export const DEFAULT_EXACT_KNN_BELOW = 2048;
/** When fewer than this share of neighbours survive from the last frame, the map must move a lot... */
export const REWARM_KEEP_BELOW = 0.25;
/** ...so the warm layout runs this many times longer... */
export const REWARM_EPOCH_FACTOR = 3;
/** ...with at least this learning rate. */
export const REWARM_MIN_ALPHA = 0.6;
/** A warm PCA projects on the previous basis unless it lost more than this share of captured variance. */
export const BASIS_VARIANCE_SLACK = 0.02;
/** Frame-to-frame seed stride (a prime), so successive frames draw different random numbers. */
const SEED_STRIDE = 7919;
/** Progress fractions at which the UMAP stages start. */
const STAGE_START = { knn: 0.15, graph: 0.35, layout: 0.4 } as const;

export interface LayerReducerOptions {
  method: ReduceMethod;
  /** UMAP neighbours, counting the point itself (default DEFAULT_N_NEIGHBORS). */
  nNeighbors?: number;
  seed?: number;
  /** Pre-reduction dimension before kNN (default DEFAULT_PCA_DIMS). */
  pcaDims?: number;
  /** Layout epochs for a cold fit (default: umap-learn's schedule by n). */
  coldEpochs?: number;
  /** Layout epochs for a warm frame (default DEFAULT_WARM_EPOCHS). */
  warmEpochs?: number;
  /** Initial learning rate of a warm frame (default DEFAULT_WARM_ALPHA; cold uses 1). */
  warmAlpha?: number;
  /** Below this many points the cold kNN is exact (default DEFAULT_EXACT_KNN_BELOW). */
  exactKnnBelow?: number;
}

/** One reduced frame; the worker's reply and the main thread's cache carry it as it is (worker/protocol.ts). */
export interface ReduceResult {
  /** 2n positions (x0, y0, x1, y1, …); NaN for excluded rows. */
  xy: Float32Array;
  /** True when no warm state was used (first frame, shape change, too few points). */
  cold: boolean;
  /** Human-readable remarks, e.g. "point count changed 500→400: cold fit". */
  notes: string[];
  /** Rows with NaN/Inf values, excluded from the fit. */
  excluded: number;
  /** Milliseconds the reduction took. */
  ms: number;
  method: ReduceMethod;
}

export type ProgressFn = (fraction: number, stage: string) => void;

interface WarmState {
  n: number;
  d: number;
  /** Aligned output of the last frame (2n, NaN where excluded). */
  xy: Float32Array | null;
  pre: PcaResult | null;
  pca2: PcaResult | null;
  /** n×k neighbour graph in original row indices (−1 = none). */
  knn: Int32Array | null;
  k: number;
}

/** The finite rows of one frame, packed: `xc` is m×d, `rows[r]` the original index of row r. */
interface Rows {
  n: number;
  d: number;
  m: number;
  rows: Int32Array;
  xc: Float32Array;
}

/** What one frame's work needs besides its rows: the previous state (null = cold), seed, notes. */
interface FrameContext {
  prev: WarmState | null;
  seed: number;
  notes: string[];
  onProgress?: ProgressFn;
}

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());
const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? "" : "s"}`;

export class LayerReducer {
  readonly method: ReduceMethod;
  private readonly nNeighbors: number;
  private readonly seed: number;
  private readonly pcaDims: number;
  private readonly opts: LayerReducerOptions;
  private state: WarmState | null = null;
  private frame = 0;

  constructor(opts: LayerReducerOptions) {
    if (opts.method !== "umap" && opts.method !== "pca") throw new Error(`unknown reducer "${String(opts.method)}"`);
    this.opts = opts;
    this.method = opts.method;
    this.nNeighbors = Math.max(2, Math.floor(opts.nNeighbors ?? DEFAULT_N_NEIGHBORS));
    this.seed = opts.seed ?? 42;
    this.pcaDims = Math.max(2, Math.floor(opts.pcaDims ?? DEFAULT_PCA_DIMS));
  }

  reduce(x: Float32Array, n: number, d: number, onProgress?: ProgressFn): ReduceResult {
    const t0 = now();
    if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 0) throw new Error(`bad shape n=${n} d=${d}`);
    if (x.length < n * d) throw new Error(`x has ${x.length} values, expected n*d = ${n * d}`);
    const ctx: FrameContext = { prev: this.usableState(n, d), seed: 0, notes: [], onProgress };
    if (this.state && !ctx.prev) {
      ctx.notes.push(this.state.n !== n ? `point count changed ${this.state.n}→${n}: cold fit` : `dimension changed ${this.state.d}→${d}: cold fit`);
    }
    this.frame++;
    ctx.seed = (this.seed + this.frame * SEED_STRIDE) >>> 0;
    const data = finiteRows(x, n, d);
    const excluded = n - data.m;
    if (excluded > 0) ctx.notes.push(`${plural(excluded, "row")} with NaN/Inf excluded`);
    let local: Float32Array, cold: boolean, next: Partial<WarmState>;
    if (data.m <= 2 || d === 0) [local, cold, next] = trivialLayout(data, ctx);
    else if (this.method === "pca" || data.m <= this.nNeighbors) [local, cold, next] = this.pcaLayout(data, ctx);
    else [local, cold, next] = this.umapLayout(data, ctx);
    const xy = this.finish(data, local, ctx.prev, next);
    ctx.onProgress?.(1, "done");
    return { xy, cold, notes: ctx.notes, excluded, ms: now() - t0, method: this.method };
  }

  /** The warm state when it fits a frame of n×d, else null (a cold fit). */
  private usableState(n: number, d: number): WarmState | null {
    return this.state && this.state.n === n && this.state.d === d ? this.state : null;
  }

  /** Scatter the packed layout back to all n rows (NaN for excluded), align, keep as warm state. */
  private finish(data: Rows, local: Float32Array, prev: WarmState | null, next: Partial<WarmState>): Float32Array {
    const { n, d, m, rows } = data;
    const xy = new Float32Array(2 * n).fill(NaN);
    for (let r = 0; r < m; r++) {
      xy[2 * rows[r]] = local[2 * r];
      xy[2 * rows[r] + 1] = local[2 * r + 1];
    }
    // Align to the previous output whenever there is one of the same shape (cold refits too).
    const out = prev?.xy ? alignTo(xy, prev.xy, n) : xy;
    this.state = { n, d, xy: out, pre: null, pca2: null, knn: null, k: 0, ...next };
    return out;
  }

  /** PCA to 2-D, warm from the previous basis (also UMAP's layout for ≤ nNeighbors points). */
  private pcaLayout(data: Rows, ctx: FrameContext): [Float32Array, boolean, Partial<WarmState>] {
    const { m, d, xc } = data;
    const { prev, seed } = ctx;
    if (this.method === "umap") ctx.notes.push(`only ${m} points (≤ nNeighbors=${this.nNeighbors}): PCA layout`);
    ctx.onProgress?.(0, "pca");
    const k2 = Math.min(2, d);
    const warm = prev?.pca2 && prev.pca2.d === d && prev.pca2.k === k2 ? prev.pca2 : null;
    const res = pca(xc, m, d, k2, { warmBasis: warm?.basis, prevComponents: warm?.components, seed, iterations: warm ? 2 : 4 });
    const local = new Float32Array(2 * m);
    for (let r = 0; r < m; r++) {
      local[2 * r] = res.scores[r * k2];
      local[2 * r + 1] = k2 > 1 ? res.scores[r * k2 + 1] : 0;
    }
    return [local, !warm || !prev?.xy, { pca2: res }];
  }

  private umapLayout(data: Rows, ctx: FrameContext): [Float32Array, boolean, Partial<WarmState>] {
    const k = this.nNeighbors;
    ctx.onProgress?.(0, "pca");
    const { z, dims, pre } = this.preReduce(data, ctx);
    ctx.onProgress?.(STAGE_START.knn, "knn");
    const { graph, init, keep } = this.neighbours(z, dims, data, ctx);
    ctx.onProgress?.(STAGE_START.graph, "graph");
    const fuzzy = fuzzySimplicialSet(graph);
    const start = this.initialLayout(data, ctx, graph, init, keep, pre);
    const every = Math.max(1, Math.floor(start.epochs / 20));
    const onProgress = ctx.onProgress;
    optimizeLayout(start.emb, fuzzy, {
      nEpochs: start.epochs, initialAlpha: start.alpha, seed: ctx.seed,
      onEpoch: onProgress ? (done, total) => { if (done % every === 0) onProgress(STAGE_START.layout + 0.59 * (done / total), "layout"); } : undefined,
    });
    return [start.emb, start.cold, { pre, knn: graphInRows(graph, data, k), k }];
  }

  /** PCA to `pcaDims` dimensions when the layer is wider (warm: projected on the last basis). */
  private preReduce(data: Rows, ctx: FrameContext): { z: Float32Array; dims: number; pre: PcaResult | null } {
    const { m, d, xc } = data;
    if (d <= this.pcaDims) return { z: xc, dims: d, pre: null };
    const prev = ctx.prev;
    const warm = prev?.pre && prev.pre.d === d && prev.pre.k === this.pcaDims ? prev.pre : null;
    let passes = 0;
    const onProgress = ctx.onProgress;
    const pre = pca(xc, m, d, this.pcaDims, {
      warmBasis: warm?.basis, prevComponents: warm?.components, seed: ctx.seed, iterations: warm ? 1 : 2,
      lagged: true, minCaptured: warm ? warm.capturedL - BASIS_VARIANCE_SLACK : 0,
      onPass: onProgress ? () => { passes++; onProgress(Math.min(STAGE_START.knn - 0.01, 0.025 * passes), "pca"); } : undefined,
    });
    return { z: pre.scores, dims: this.pcaDims, pre };
  }

  /**
   * The kNN graph of the packed rows: refined from the last frame's graph when there is one
   * (`init`, in packed indices), else exact or NN-descent; `keep` is the share of neighbours kept.
   */
  private neighbours(z: Float32Array, dims: number, data: Rows, ctx: FrameContext): { graph: KnnGraph; init: Int32Array | null; keep: number } {
    const k = this.nNeighbors;
    const { m } = data;
    const prev = ctx.prev;
    const init = prev?.knn && prev.k === k ? graphInPacked(prev.knn, k, data) : null;
    const onProgress = ctx.onProgress;
    const onRound = onProgress ? (r: number, total: number): void => onProgress(STAGE_START.knn + 0.2 * (r / total), "knn") : undefined;
    let graph: KnnGraph;
    if (init) graph = knnDescent(z, m, dims, k, { init, seed: ctx.seed, iterations: 2, onRound });
    else if (m < (this.opts.exactKnnBelow ?? DEFAULT_EXACT_KNN_BELOW)) graph = knnBruteForce(z, m, dims, k);
    else graph = knnDescent(z, m, dims, k, { seed: ctx.seed, onRound });
    return { graph, init, keep: init ? keptShare(graph, init, k) : 1 };
  }

  /** Where the layout starts: the last frame's positions (warm), else a PCA initialisation. */
  private initialLayout(
    data: Rows, ctx: FrameContext, graph: KnnGraph, init: Int32Array | null, keep: number, pre: PcaResult | null,
  ): { emb: Float32Array; cold: boolean; epochs: number; alpha: number } {
    const { m, d, xc } = data;
    const prev = ctx.prev;
    if (prev?.xy && init) {
      const [emb, placed] = warmPositions(prev.xy, data, graph);
      if (placed > 0) ctx.notes.push(`${plural(placed, "point")} without a previous position placed near their neighbours`);
      let epochs = this.opts.warmEpochs ?? DEFAULT_WARM_EPOCHS;
      let alpha = this.opts.warmAlpha ?? DEFAULT_WARM_ALPHA;
      if (keep < REWARM_KEEP_BELOW) {
        ctx.notes.push(`neighbourhoods changed a lot (${Math.round(keep * 100)}% kept): longer warm layout`);
        epochs *= REWARM_EPOCH_FACTOR;
        alpha = Math.max(alpha, REWARM_MIN_ALPHA);
      }
      return { emb, cold: false, epochs, alpha };
    }
    let scores: Float32Array, k: number;
    if (pre) [scores, k] = [pre.scores, pre.k];
    else {
      k = Math.min(2, d);
      scores = pca(xc, m, d, k, { seed: ctx.seed }).scores;
    }
    return { emb: pcaInit(scores, m, k, ctx.seed), cold: true, epochs: this.opts.coldEpochs ?? defaultEpochs(m), alpha: 1 };
  }
}

/** The rows without NaN/Inf, packed (no copy when every row is finite). */
export function finiteRows(x: Float32Array, n: number, d: number): Rows {
  const rows: number[] = [];
  for (let i = 0; i < n; i++) {
    // v * 0 is NaN exactly for NaN and ±Inf
    let z = 0;
    for (let p = 0, o = i * d; p < d; p++) z += x[o + p] * 0;
    if (z === 0) rows.push(i);
  }
  const m = rows.length;
  if (m === n) return { n, d, m, rows: Int32Array.from(rows), xc: x.length === n * d ? x : x.subarray(0, n * d) };
  const xc = new Float32Array(m * d);
  for (let r = 0; r < m; r++) xc.set(x.subarray(rows[r] * d, rows[r] * d + d), r * d);
  return { n, d, m, rows: Int32Array.from(rows), xc };
}

/** Fewer than three valid points (or no dimensions): nothing to fit. */
function trivialLayout(data: Rows, ctx: FrameContext): [Float32Array, boolean, Partial<WarmState>] {
  const { n, m } = data;
  if (n > 0 && m <= 2) ctx.notes.push(`only ${plural(m, "valid point")}: trivial layout`);
  const local = new Float32Array(2 * m);
  if (m === 2) { local[0] = -1; local[2] = 1; }
  return [local, true, {}];
}

/** The last frame's graph (original indices) in this frame's packed row indices. */
function graphInPacked(knn: Int32Array, k: number, data: Rows): Int32Array {
  const { n, m, rows } = data;
  const toLocal = new Int32Array(n).fill(-1);
  for (let r = 0; r < m; r++) toLocal[rows[r]] = r;
  const init = new Int32Array(m * k).fill(-1);
  for (let r = 0; r < m; r++) {
    const o = rows[r] * k;
    for (let s = 0; s < k; s++) {
      const j = knn[o + s];
      init[r * k + s] = j >= 0 ? toLocal[j] : -1;
    }
  }
  return init;
}

/** This frame's graph (packed indices) in original row indices, for the next frame. */
function graphInRows(graph: KnnGraph, data: Rows, k: number): Int32Array {
  const { n, m, rows } = data;
  const out = new Int32Array(n * k).fill(-1);
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < graph.k; s++) {
      const j = graph.indices[r * graph.k + s];
      out[rows[r] * k + s] = j >= 0 ? rows[j] : -1;
    }
  }
  return out;
}

/** Share of the new graph's neighbours (self excluded) that were neighbours in `init`. */
function keptShare(graph: KnnGraph, init: Int32Array, k: number): number {
  let same = 0, total = 0;
  for (let r = 0; r < graph.n; r++) {
    for (let s = 1; s < graph.k; s++) {
      const j = graph.indices[r * graph.k + s];
      if (j < 0) continue;
      total++;
      for (let t = 0; t < k; t++) if (init[r * k + t] === j) { same++; break; }
    }
  }
  return total > 0 ? same / total : 1;
}

/** The previous positions of the packed rows; rows without one start at their neighbours' mean. */
function warmPositions(prevXy: Float32Array, data: Rows, graph: KnnGraph): [Float32Array, number] {
  const { m, rows } = data;
  const emb = new Float32Array(2 * m);
  const has = new Uint8Array(m);
  for (let r = 0; r < m; r++) {
    const px = prevXy[2 * rows[r]], py = prevXy[2 * rows[r] + 1];
    if (Number.isFinite(px) && Number.isFinite(py)) { emb[2 * r] = px; emb[2 * r + 1] = py; has[r] = 1; }
  }
  let cx = 0, cy = 0, c = 0;
  for (let r = 0; r < m; r++) if (has[r]) { cx += emb[2 * r]; cy += emb[2 * r + 1]; c++; }
  if (c > 0) { cx /= c; cy /= c; }
  let placed = 0;
  for (let r = 0; r < m; r++) {
    if (has[r]) continue;
    let sx = 0, sy = 0, sc = 0;
    for (let s = 1; s < graph.k; s++) {
      const j = graph.indices[r * graph.k + s];
      if (j >= 0 && has[j]) { sx += emb[2 * j]; sy += emb[2 * j + 1]; sc++; }
    }
    emb[2 * r] = sc > 0 ? sx / sc : cx;
    emb[2 * r + 1] = sc > 0 ? sy / sc : cy;
    placed++;
  }
  return [emb, placed];
}
