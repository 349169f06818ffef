/**
 * LayerReducer: reduction of one layer's frames to 2-D ("umap", "tsne" or "pca"), warm-started only
 * from a frame near it in training order. The caller names the frames a frame may start from
 * (`warmFrom`, best first); without a usable one the frame is fitted cold, and a cold fit depends
 * on the frame alone (a fixed seed), so a frame reached by a long jump looks as it does in a fresh
 * view. Each layout's faithfulness (faithfulness.ts) is measured; a warm layout clearly less
 * faithful than the cold fit its chain started from is refitted cold. Every output is
 * Procrustes-aligned to the frame it started from (a cold fit: to the last output) so points glide.
 * Synchronous and DOM-free: runs in a Web Worker or in Node.
 *
 * A frame goes through named stages: `finiteRows` (rows with NaN/Inf are left out), then
 * `trivialLayout`, `pcaLayout`, `tsneLayout` or the UMAP stages `preReduce` → `neighbours` →
 * `initialLayout` → layout optimisation, then `judge` (faithfulness, refit) and `finish` (scatter
 * back to all rows, align, keep the warm state).
 */
import { pca, type PcaResult } from "./pca.ts";
import { knnBruteForce, knnDescent, refineNeighbours, type KnnGraph } from "./knn.ts";
import { fuzzySimplicialSet } from "./fuzzy.ts";
import { defaultEpochs, optimizeLayout, pcaInit } from "./layout.ts";
import { alignTo } from "./procrustes.ts";
import { faithfulness, type Faithfulness } from "./faithfulness.ts";
import { inLocalityOrder, LOCALITY_MIN_ROWS } from "./locality.ts";
import { DEFAULT_PERPLEXITY, effectivePerplexity, exactNeighbours, tsneAffinities, tsneEmbed } from "./tsne.ts";
import { neighbourCount } from "./tsne-affinities.ts";
import { graphInPacked, graphInRows, sampledKeptShare, warmPositions, WarmStates, type Rows, type WarmState } from "./warm.ts";
import { kernelKind, type KernelKind } from "./kernels.ts";
import type { ReduceMethod } from "../contract.ts";

/** UMAP's neighbours per point, counting the point itself (umap-learn's default). */
export const DEFAULT_N_NEIGHBORS = 15;
/** Dimensions kept by the PCA pre-reduction before kNN: neighbours in 32 PCs match full-D ones closely. */
export const DEFAULT_PCA_DIMS = 32;
/** Layout epochs of a warm frame: the previous positions are close already. */
export const DEFAULT_WARM_EPOCHS = 25;
/** Initial learning rate of a warm layout (a cold fit starts at 1): small steps keep points in place. */
export const DEFAULT_WARM_ALPHA = 0.1;
/** Below this many points a cold kNN is exact (brute force is fast enough and NN-descent has no edge). */
export const DEFAULT_EXACT_KNN_BELOW = 2048;
/**
 * When fewer than this share of neighbours survive from the frame a UMAP layout starts from, the
 * frame is not near it: its positions would carry the other frame's picture, so it is fitted cold.
 */
export const COLD_KEEP_BELOW = 0.25;
/**
 * At or above this share of neighbours kept a warm layout runs DEFAULT_WARM_EPOCHS at
 * DEFAULT_WARM_ALPHA; below it, the fewer kept, the longer and larger its steps, up to a cold
 * fit's at COLD_KEEP_BELOW. Between two captures of a noisy layer the exact share measured is 83%
 * at 5,000 points, 69% at 50,000 and 43% at 200,000: the denser the cloud, the more noise swaps
 * near-equidistant neighbours without moving anything that shows (early training loses more). A
 * warm layout that does fall behind is caught by the faithfulness check and refitted.
 */
export const STEADY_KEEP = 0.45;
/** A warm layout is refitted cold when its trustworthiness falls this far below its chain's cold fit... */
export const TRUST_SLACK = 0.02;
/** ...or its global rank correlation this far (cold fits of one frame differ by ~0.05 between seeds). */
export const GLOBAL_SLACK = 0.15;
/** A warm PCA projects on the previous basis unless it lost more than this share of captured variance... */
export const BASIS_VARIANCE_SLACK = 0.02;
/** ...and refines the basis (a second pass over the frame) every this many warm frames. */
export const BASIS_REFRESH_FRAMES = 3;
/** Frame-to-frame seed stride (a prime), so successive warm frames draw different random numbers. */
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
  /** From this many points a warm frame's rows are put in locality order (default LOCALITY_MIN_ROWS). */
  localityMinRows?: number;
}

export type ProgressFn = (fraction: number, stage: string) => void;

/** What identifies a frame and where it may start from. */
export interface ReduceOptions {
  /** The frame's id (its seq): its warm state is kept under it for the frames next to it. */
  seq?: number;
  /**
   * Frames (seqs) this one may warm-start from, best first; the first whose state is kept and of
   * the same shape is used, else the frame is fitted cold. Omitted: the frame reduced last (a
   * caller that reduces frames in training order, as the benchmarks do).
   */
  warmFrom?: readonly number[];
  /** Labels per row (−1 = none): the global faithfulness measure compares class centroids. */
  labels?: Int32Array | null;
  onProgress?: ProgressFn;
}

/** One reduced frame; the worker's reply and the main thread's cache carry it as it is (worker/protocol.ts). */
export interface ReduceResult {
  /** 2n positions (x0, y0, x1, y1, …); NaN for excluded rows. */
  xy: Float32Array;
  /** True when no warm state was used (first frame, no frame near it, shape change, refit). */
  cold: boolean;
  /** The frame (seq) the layout started from; null for a cold fit. */
  warmFrom: number | null;
  /** How faithful the layout is to the frame (sampled; null with fewer than 3 valid points). */
  faithfulness: Faithfulness | null;
  /** Human-readable remarks, e.g. "point count changed 500→400: cold fit". */
  notes: string[];
  /** Rows with NaN/Inf values, excluded from the fit. */
  excluded: number;
  /** Milliseconds the reduction took. */
  ms: number;
  method: ReduceMethod;
  /** Which kernels ran the dense products (kernels.ts): WebAssembly SIMD, or JavaScript without it. */
  kernels: KernelKind;
}

/** One frame's work besides its rows: the state it starts from (null = cold), seed, notes. */
interface FrameContext {
  prev: WarmState | null;
  seed: number;
  notes: string[];
  onProgress?: ProgressFn;
}

/** A layout of the packed rows, the space it was fitted in and what the next frames need. */
interface Layout {
  /** The packed rows the layout was fitted on (a warm frame may reorder them: locality.ts). */
  data: Rows;
  local: Float32Array;
  cold: boolean;
  next: Partial<WarmState>;
  /** The rows as the layout saw them (m×dims): PCA scores or the rows themselves. */
  z: Float32Array;
  dims: number;
}

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());
const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? "" : "s"}`;
const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

export class LayerReducer {
  readonly method: ReduceMethod;
  private readonly nNeighbors: number;
  private readonly seed: number;
  private readonly pcaDims: number;
  private readonly opts: LayerReducerOptions;
  private readonly states = new WarmStates();
  private frame = 0;

  constructor(opts: LayerReducerOptions) {
    if (!["umap", "tsne", "pca"].includes(opts.method)) throw new Error(`unknown reducer "${String(opts.method)}"`);
    this.opts = opts;
    this.method = opts.method;
    this.nNeighbors = Math.max(2, Math.floor(opts.nNeighbors ?? DEFAULT_N_NEIGHBORS));
    this.seed = opts.seed ?? 42;
    this.pcaDims = Math.max(2, Math.floor(opts.pcaDims ?? DEFAULT_PCA_DIMS));
  }

  reduce(x: Float32Array, n: number, d: number, options: ReduceOptions | ProgressFn = {}): ReduceResult {
    const t0 = now();
    const o: ReduceOptions = typeof options === "function" ? { onProgress: options } : options;
    if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 0) throw new Error(`bad shape n=${n} d=${d}`);
    if (x.length < n * d) throw new Error(`x has ${x.length} values, expected n*d = ${n * d}`);
    this.frame++;
    const seq = o.seq ?? -this.frame;
    const [prev, prevSeq] = this.source(n, d, o.warmFrom);
    const ctx: FrameContext = { prev, seed: this.seed, notes: [], onProgress: o.onProgress };
    const last = this.states.last;
    if (last && !prev && (last.n !== n || last.d !== d)) {
      ctx.notes.push(last.n !== n ? `point count changed ${last.n}→${n}: cold fit` : `dimension changed ${last.d}→${d}: cold fit`);
    } else if (last && !prev && o.warmFrom !== undefined) {
      ctx.notes.push("cold fit: no frame just before it in training order is reduced");
    }
    // Warm frames draw their own random numbers; a cold fit always the same (it depends on the frame alone).
    if (prev) ctx.seed = (this.seed + Math.abs(seq) * SEED_STRIDE) >>> 0;
    const data = finiteRows(x, n, d);
    const excluded = n - data.m;
    if (excluded > 0) ctx.notes.push(`${plural(excluded, "row")} with NaN/Inf excluded`);
    let layout = this.layout(data, ctx);
    let judged: Faithfulness | null = null;
    if (data.m > 2 && d > 0) [layout, judged] = this.judge(data, o.labels ?? null, layout, ctx);
    const warmFrom = layout.cold ? null : prevSeq;
    const reference = layout.cold ? judged : (ctx.prev?.reference ?? judged);
    // A cold fit is turned to match the last output (only rotated, reflected, moved and scaled).
    const alignWith = !layout.cold ? ctx.prev : last && last.n === n ? last : null;
    const xy = this.finish(layout, alignWith, seq, reference);
    ctx.onProgress?.(1, "done");
    return { xy, cold: layout.cold, warmFrom, faithfulness: judged, notes: ctx.notes, excluded, ms: now() - t0, method: this.method, kernels: kernelKind() };
  }

  /** The first state of `warmFrom` kept with this shape (or the last one when not given). */
  private source(n: number, d: number, warmFrom: readonly number[] | undefined): [WarmState | null, number | null] {
    const fits = (s: WarmState | null | undefined): s is WarmState => s !== null && s !== undefined && s.n === n && s.d === d;
    if (warmFrom === undefined) return fits(this.states.last) ? [this.states.last, null] : [null, null];
    for (const seq of warmFrom) {
      const s = this.states.get(seq);
      if (fits(s)) return [s, seq];
    }
    return [null, null];
  }

  private layout(data: Rows, ctx: FrameContext): Layout {
    if (data.m <= 2 || data.d === 0) return trivialLayout(data, ctx);
    if (this.method === "pca" || data.m <= this.nNeighbors) return this.pcaLayout(data, ctx);
    if (this.method === "tsne") return this.tsneLayout(data, ctx);
    return this.umapLayout(data, ctx);
  }

  /**
   * The layout's faithfulness; a warm layout clearly below the cold fit its chain started from is
   * fitted again cold, and the cold fit kept unless the warm one was better on both measures.
   */
  private judge(data: Rows, labels: Int32Array | null, layout: Layout, ctx: FrameContext): [Layout, Faithfulness] {
    const measure = (l: Layout): Faithfulness => faithfulness(l.data.xc, l.data.d, l.z, l.dims, l.local, l.data.m, packedLabels(labels, l.data), this.seed, l.data.rows);
    const q = measure(layout);
    const ref = ctx.prev?.reference;
    if (layout.cold || !ref || !(q.trust < ref.trust - TRUST_SLACK || q.global < ref.global - GLOBAL_SLACK)) return [layout, q];
    const cold = this.layout(data, { ...ctx, prev: null, seed: this.seed });
    const qc = measure(cold);
    if (q.trust >= qc.trust && !(q.global < qc.global)) return [layout, q];
    ctx.notes.push(`refitted cold: the warm layout was less faithful (trust ${fmt(q.trust)} vs ${fmt(qc.trust)}, global ${fmt(q.global)} vs ${fmt(qc.global)})`);
    ctx.prev = null;
    return [cold, qc];
  }

  /** Scatter the packed layout back to all n rows (NaN for excluded), align, keep as warm state. */
  private finish(layout: Layout, alignWith: WarmState | null, seq: number, reference: Faithfulness | null): Float32Array {
    const { n, d, m, rows } = layout.data;
    const xy = new Float32Array(2 * n).fill(NaN);
    for (let r = 0; r < m; r++) {
      xy[2 * rows[r]] = layout.local[2 * r];
      xy[2 * rows[r] + 1] = layout.local[2 * r + 1];
    }
    const out = alignWith?.xy ? alignTo(xy, alignWith.xy, n) : xy;
    this.states.put(seq, { n, d, xy: out, pre: null, pca2: null, knn: null, k: 0, reference, ...layout.next });
    return out;
  }

  /** PCA to 2-D, warm from the previous basis (also UMAP's layout for ≤ nNeighbors points). */
  private pcaLayout(data: Rows, ctx: FrameContext): Layout {
    const { m, d, xc } = data;
    const { prev, seed } = ctx;
    if (this.method !== "pca") ctx.notes.push(`only ${m} points (≤ ${this.nNeighbors}): PCA layout`);
    ctx.onProgress?.(0, "pca");
    const k2 = Math.min(2, d);
    const warm = prev?.pca2 && prev.pca2.d === d && prev.pca2.k === k2 ? prev.pca2 : null;
    const res = pca(xc, m, d, k2, { warmBasis: warm?.basis, prevComponents: warm?.components, seed, iterations: warm ? 2 : 4 });
    const local = new Float32Array(2 * m);
    for (let r = 0; r < m; r++) {
      local[2 * r] = res.scores[r * k2];
      local[2 * r + 1] = k2 > 1 ? res.scores[r * k2 + 1] : 0;
    }
    return { data, local, cold: !warm || !prev?.xy, next: { pca2: res }, z: xc, dims: d };
  }

  private umapLayout(frame: Rows, ctx: FrameContext): Layout {
    const k = this.nNeighbors;
    const data = this.warmLocality(frame, ctx.prev, k);
    ctx.onProgress?.(0, "pca");
    const { z, dims, pre, basisAge } = this.preReduce(data, ctx);
    ctx.onProgress?.(STAGE_START.knn, "knn");
    const { graph, init, keep } = this.neighbours(z, dims, data, ctx);
    if (init && keep < COLD_KEEP_BELOW) {
      ctx.notes.push(`neighbourhoods changed a lot (${Math.round(keep * 100)}% kept): cold fit`);
      return this.umapLayout(frame, { ...ctx, prev: null, seed: this.seed });
    }
    ctx.onProgress?.(STAGE_START.graph, "graph");
    const fuzzy = fuzzySimplicialSet(graph);
    const start = this.initialLayout(data, ctx, graph, init, keep, pre);
    const every = Math.max(1, Math.floor(start.epochs / 20));
    const onProgress = ctx.onProgress;
    optimizeLayout(start.emb, fuzzy, {
      nEpochs: start.epochs, initialAlpha: start.alpha, seed: ctx.seed,
      onEpoch: onProgress ? (done, total) => { if (done % every === 0) onProgress(STAGE_START.layout + 0.59 * (done / total), "layout"); } : undefined,
    });
    return { data, local: start.emb, cold: start.cold, next: { pre, basisAge, knn: graphInRows(graph, data, k), k }, z, dims };
  }

  /**
   * t-SNE of the pre-reduced rows (tsne.ts); warm: from the previous positions, with the previous
   * frame's neighbour graph refined instead of an exact kNN search (most of a frame's cost).
   */
  private tsneLayout(frame: Rows, ctx: FrameContext): Layout {
    const { m } = frame;
    const perplexity = effectivePerplexity(m, DEFAULT_PERPLEXITY);
    const k = Math.min(m, neighbourCount(m, perplexity) + 1);
    const data = this.warmLocality(frame, ctx.prev, k);
    ctx.onProgress?.(0, "pca");
    const { z, dims, pre, basisAge } = this.preReduce(data, ctx);
    ctx.onProgress?.(STAGE_START.knn, "knn");
    const prevGraph = ctx.prev?.knn && ctx.prev.k === k ? graphInPacked(ctx.prev.knn, k, data) : null;
    const graph = prevGraph ? refineNeighbours(z, m, dims, k, prevGraph) : exactNeighbours(z, m, dims, k);
    const keep = prevGraph ? sampledKeptShare(z, m, dims, k, prevGraph, this.seed) : 1;
    if (keep < COLD_KEEP_BELOW) {
      ctx.notes.push(`neighbourhoods changed a lot (${Math.round(keep * 100)}% kept): cold fit`);
      return this.tsneLayout(frame, { ...ctx, prev: null, seed: this.seed });
    }
    ctx.onProgress?.(STAGE_START.graph, "graph");
    const init = prevGraph && ctx.prev?.xy ? warmPositions(ctx.prev.xy, data, graph)[0] : null;
    const onProgress = ctx.onProgress;
    const local = tsneEmbed(z, m, dims, {
      init, seed: ctx.seed, perplexity, affinities: tsneAffinities(graph, perplexity),
      onIteration: onProgress ? (done, total) => onProgress(STAGE_START.layout + 0.59 * (done / total), "layout") : undefined,
    });
    return { data, local, cold: init === null, next: { pre, basisAge, knn: graphInRows(graph, data, k), k }, z, dims };
  }

  /**
   * A warm frame's rows in the locality order of the layout it starts from (locality.ts); a frame
   * that will be fitted cold keeps its order, so that a cold fit depends on the frame alone.
   */
  private warmLocality(frame: Rows, prev: WarmState | null, k: number): Rows {
    if (!prev?.xy || !prev.knn || prev.k !== k) return frame;
    return inLocalityOrder(frame, prev.xy, this.opts.localityMinRows ?? LOCALITY_MIN_ROWS);
  }

  /** PCA to `pcaDims` dimensions when the layer is wider (warm: projected on the last basis). */
  private preReduce(data: Rows, ctx: FrameContext): { z: Float32Array; dims: number; pre: PcaResult | null; basisAge: number } {
    const { m, d, xc } = data;
    if (d <= this.pcaDims) return { z: xc, dims: d, pre: null, basisAge: 0 };
    const prev = ctx.prev;
    const warm = prev?.pre && prev.pre.d === d && prev.pre.k === this.pcaDims ? prev.pre : null;
    let passes = 0;
    const onProgress = ctx.onProgress;
    const basisAge = warm ? (prev?.basisAge ?? 0) + 1 : 0;
    const refine = basisAge % BASIS_REFRESH_FRAMES === 0;
    const pre = pca(xc, m, d, this.pcaDims, {
      warmBasis: warm?.basis, prevComponents: warm?.components, seed: ctx.seed, iterations: warm ? 1 : 2,
      lagged: true, minCaptured: warm ? warm.capturedL - BASIS_VARIANCE_SLACK : 0, refine,
      onPass: onProgress ? () => { passes++; onProgress(Math.min(STAGE_START.knn - 0.01, 0.025 * passes), "pca"); } : undefined,
    });
    return { z: pre.scores, dims: this.pcaDims, pre, basisAge };
  }

  /**
   * The kNN graph of the packed rows: the previous frame's graph refined when there is one
   * (`init`, in packed indices: refineNeighbours, linear in m), else exact or NN-descent; `keep`
   * is the share of neighbours kept.
   */
  private neighbours(z: Float32Array, dims: number, data: Rows, ctx: FrameContext): { graph: KnnGraph; init: Int32Array | null; keep: number } {
    const k = this.nNeighbors;
    const { m } = data;
    const prev = ctx.prev;
    const init = prev?.knn && prev.k === k ? graphInPacked(prev.knn, k, data) : null;
    const onProgress = ctx.onProgress;
    const onRound = onProgress ? (r: number, total: number): void => onProgress(STAGE_START.knn + 0.2 * (r / total), "knn") : undefined;
    let graph: KnnGraph;
    if (init) graph = refineNeighbours(z, m, dims, k, init);
    else if (m < (this.opts.exactKnnBelow ?? DEFAULT_EXACT_KNN_BELOW)) graph = knnBruteForce(z, m, dims, k);
    else graph = knnDescent(z, m, dims, k, { seed: ctx.seed, onRound });
    return { graph, init, keep: init ? sampledKeptShare(z, m, dims, k, init, this.seed) : 1 };
  }

  /** Where the layout starts: the previous frame's positions (warm), else a PCA initialisation. */
  private initialLayout(
    data: Rows, ctx: FrameContext, graph: KnnGraph, init: Int32Array | null, keep: number, pre: PcaResult | null,
  ): { emb: Float32Array; cold: boolean; epochs: number; alpha: number } {
    const { m, d, xc } = data;
    const prev = ctx.prev;
    if (prev?.xy && init) {
      const [emb, placed] = warmPositions(prev.xy, data, graph);
      if (placed > 0) ctx.notes.push(`${plural(placed, "point")} without a previous position placed near their neighbours`);
      // The more the neighbourhoods changed, the further the layout must move: longer, larger steps.
      const change = Math.min(1, Math.max(0, (STEADY_KEEP - keep) / (STEADY_KEEP - COLD_KEEP_BELOW)));
      const epochs = this.opts.warmEpochs ?? DEFAULT_WARM_EPOCHS, alpha = this.opts.warmAlpha ?? DEFAULT_WARM_ALPHA;
      const coldEpochs = this.opts.coldEpochs ?? defaultEpochs(m);
      return { emb, cold: false, epochs: Math.round(epochs + change * Math.max(0, coldEpochs - epochs)), alpha: alpha + change * (1 - alpha) };
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

/** The labels of the packed rows (null without labels). */
function packedLabels(labels: Int32Array | null, data: Rows): Int32Array | null {
  if (labels === null || labels.length < data.n) return null;
  return data.rows.map((r) => labels[r]);
}

/** Fewer than three valid points (or no dimensions): nothing to fit. */
function trivialLayout(data: Rows, ctx: FrameContext): Layout {
  const { n, m } = data;
  if (n > 0 && m <= 2) ctx.notes.push(`only ${plural(m, "valid point")}: trivial layout`);
  const local = new Float32Array(2 * m);
  if (m === 2) { local[0] = -1; local[2] = 1; }
  return { data, local, cold: true, next: {}, z: data.xc, dims: data.d };
}
