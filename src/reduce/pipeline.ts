/**
 * LayerReducer: warm-started reduction of one layer's frames to 2-D ("umap" or "pca").
 * Frame 1 is a cold fit; later frames with the same n and d start from the previous frame's PCA
 * basis, kNN graph and 2-D positions, and the result is Procrustes-aligned to the previous output.
 * Synchronous and DOM-free: runs in a Web Worker or in Node.
 */
import { pca, type PcaResult } from "./pca.ts";
import { knnBruteForce, knnDescent, type KnnGraph } from "./knn.ts";
import { fuzzySimplicialSet } from "./fuzzy.ts";
import { defaultEpochs, optimizeLayout, pcaInit } from "./layout.ts";
import { alignTo } from "./procrustes.ts";

import type { ReduceMethod } from "./protocol.ts";

export type { ReduceMethod };

export interface LayerReducerOptions {
  method: ReduceMethod;
  /** UMAP neighbours, counting the point itself (default 15). */
  nNeighbors?: number;
  seed?: number;
  /** Pre-reduction dimension before kNN (default 32). */
  pcaDims?: number;
  /** Layout epochs for a cold fit (default: umap-learn's schedule by n). */
  coldEpochs?: number;
  /** Layout epochs for a warm frame (default 40). */
  warmEpochs?: number;
  /** Initial learning rate of a warm frame (default 0.1; cold uses 1). */
  warmAlpha?: number;
  /** Below this many points the cold kNN is exact (default 2048). */
  exactKnnBelow?: number;
}

export interface ReduceResult {
  /** 2n positions (x0, y0, x1, y1, …); NaN for excluded rows. */
  xy: Float32Array;
  /** True when no warm state was used (first frame, shape change, reset, too few points). */
  cold: boolean;
  /** Human-readable remarks, e.g. "point count changed 500→400: cold fit". */
  notes: string[];
  /** Rows with NaN/Inf values, excluded from the fit. */
  excluded: number;
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

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

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
    this.nNeighbors = Math.max(2, Math.floor(opts.nNeighbors ?? 15));
    this.seed = opts.seed ?? 42;
    this.pcaDims = Math.max(2, Math.floor(opts.pcaDims ?? 32));
  }

  /** Forget all warm state: the next frame is a cold fit. */
  reset(): void {
    this.state = null;
  }

  reduce(x: Float32Array, n: number, d: number, onProgress?: ProgressFn): ReduceResult {
    const t0 = now();
    if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 0) throw new Error(`bad shape n=${n} d=${d}`);
    if (x.length < n * d) throw new Error(`x has ${x.length} values, expected n*d = ${n * d}`);
    const notes: string[] = [];
    let prev = this.state;
    if (prev && prev.n !== n) {
      notes.push(`point count changed ${prev.n}→${n}: cold fit`);
      prev = null;
    } else if (prev && prev.d !== d) {
      notes.push(`dimension changed ${prev.d}→${d}: cold fit`);
      prev = null;
    }
    this.frame++;
    const seed = (this.seed + this.frame * 7919) >>> 0;

    // finite rows only
    const valid = new Uint8Array(n);
    const rows: number[] = [];
    for (let i = 0; i < n; i++) {
      // v * 0 is NaN exactly for NaN and ±Inf
      let z = 0;
      for (let p = 0, o = i * d; p < d; p++) z += x[o + p] * 0;
      if (z === 0) { valid[i] = 1; rows.push(i); }
    }
    const m = rows.length;
    const excluded = n - m;
    if (excluded > 0) notes.push(`${excluded} row${excluded === 1 ? "" : "s"} with NaN/Inf excluded`);
    let xc: Float32Array<ArrayBufferLike>;
    if (excluded === 0) xc = x.length === n * d ? x : x.subarray(0, n * d);
    else {
      xc = new Float32Array(m * d);
      for (let r = 0; r < m; r++) xc.set(x.subarray(rows[r] * d, rows[r] * d + d), r * d);
    }
    const xy = new Float32Array(2 * n).fill(NaN);
    const finish = (local: Float32Array, cold: boolean, next: Partial<WarmState>): ReduceResult => {
      for (let r = 0; r < m; r++) {
        xy[2 * rows[r]] = local[2 * r];
        xy[2 * rows[r] + 1] = local[2 * r + 1];
      }
      let out: Float32Array = xy;
      // align to the previous output whenever there is one of the same shape (cold refits too)
      if (prev && prev.xy) out = alignTo(xy, prev.xy, n);
      this.state = { n, d, xy: out, pre: null, pca2: null, knn: null, k: 0, ...next };
      onProgress?.(1, "done");
      return { xy: out, cold, notes, excluded, ms: now() - t0, method: this.method };
    };

    if (m <= 2 || d === 0) {
      if (n > 0 && m <= 2) notes.push(`only ${m} valid point${m === 1 ? "" : "s"}: trivial layout`);
      const local = new Float32Array(2 * m);
      if (m === 2) { local[0] = -1; local[2] = 1; }
      return finish(local, true, {});
    }

    if (this.method === "pca" || m <= this.nNeighbors) {
      if (this.method === "umap") notes.push(`only ${m} points (≤ nNeighbors=${this.nNeighbors}): PCA layout`);
      onProgress?.(0, "pca");
      const k2 = Math.min(2, d);
      const warm = prev?.pca2 && prev.pca2.d === d && prev.pca2.k === k2 ? prev.pca2 : null;
      const res = pca(xc, m, d, k2, { warmBasis: warm?.basis, prevComponents: warm?.components, seed, iterations: warm ? 2 : 4 });
      const local = new Float32Array(2 * m);
      for (let r = 0; r < m; r++) {
        local[2 * r] = res.scores[r * k2];
        local[2 * r + 1] = k2 > 1 ? res.scores[r * k2 + 1] : 0;
      }
      return finish(local, !warm || !prev?.xy, { pca2: res });
    }

    // ---- UMAP ----
    const k = this.nNeighbors;
    onProgress?.(0, "pca");
    let z: Float32Array, dims: number, pre: PcaResult | null = null, passes = 0;
    if (d <= this.pcaDims) {
      z = xc; dims = d;
    } else {
      const warm = prev?.pre && prev.pre.d === d && prev.pre.k === this.pcaDims ? prev.pre : null;
      pre = pca(xc, m, d, this.pcaDims, {
        warmBasis: warm?.basis, prevComponents: warm?.components, seed, iterations: warm ? 1 : 2,
        // warm: project on the previous basis unless it lost > 2 points of captured variance
        lagged: true, minCaptured: warm ? warm.capturedL - 0.02 : 0,
        onPass: onProgress ? () => { passes++; onProgress(Math.min(0.14, 0.025 * passes), "pca"); } : undefined,
      });
      z = pre.scores; dims = this.pcaDims;
    }
    onProgress?.(0.15, "knn");
    // previous graph, translated to compact row indices
    let init: Int32Array | null = null;
    if (prev?.knn && prev.k === k) {
      const toLocal = new Int32Array(n).fill(-1);
      for (let r = 0; r < m; r++) toLocal[rows[r]] = r;
      init = new Int32Array(m * k).fill(-1);
      for (let r = 0; r < m; r++) {
        const o = rows[r] * k;
        for (let s = 0; s < k; s++) {
          const j = prev.knn[o + s];
          init[r * k + s] = j >= 0 ? toLocal[j] : -1;
        }
      }
    }
    let graph: KnnGraph;
    const onRound = onProgress ? (r: number, total: number): void => onProgress(0.15 + 0.2 * (r / total), "knn") : undefined;
    if (init) graph = knnDescent(z, m, dims, k, { init, seed, iterations: 2, onRound });
    else if (m < (this.opts.exactKnnBelow ?? 2048)) graph = knnBruteForce(z, m, dims, k);
    else graph = knnDescent(z, m, dims, k, { seed, onRound });

    let keep = 1;
    if (init) {
      let same = 0, total = 0;
      for (let r = 0; r < m; r++) {
        for (let s = 1; s < graph.k; s++) {
          const j = graph.indices[r * graph.k + s];
          if (j < 0) continue;
          total++;
          for (let t = 0; t < k; t++) if (init[r * k + t] === j) { same++; break; }
        }
      }
      keep = total > 0 ? same / total : 1;
    }
    onProgress?.(0.35, "graph");
    const fuzzy = fuzzySimplicialSet(graph);

    // layout initialisation
    let emb: Float32Array;
    let cold = true;
    let nEpochs: number, alpha: number;
    if (prev?.xy && init) {
      cold = false;
      emb = new Float32Array(2 * m);
      const has = new Uint8Array(m);
      for (let r = 0; r < m; r++) {
        const px = prev.xy[2 * rows[r]], py = prev.xy[2 * rows[r] + 1];
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
      if (placed > 0) notes.push(`${placed} point${placed === 1 ? "" : "s"} without a previous position placed near their neighbours`);
      nEpochs = this.opts.warmEpochs ?? 40;
      alpha = this.opts.warmAlpha ?? 0.1;
      if (keep < 0.25) {
        notes.push(`neighbourhoods changed a lot (${Math.round(keep * 100)}% kept): longer warm layout`);
        nEpochs *= 3;
        alpha = Math.max(alpha, 0.6);
      }
    } else {
      let initScores: Float32Array, ik: number;
      if (pre) { initScores = pre.scores; ik = pre.k; }
      else {
        const k2 = Math.min(2, d);
        initScores = pca(xc, m, d, k2, { seed }).scores; ik = k2;
      }
      emb = pcaInit(initScores, m, ik, seed);
      nEpochs = this.opts.coldEpochs ?? defaultEpochs(m);
      alpha = 1;
    }
    const every = Math.max(1, Math.floor(nEpochs / 20));
    optimizeLayout(emb, fuzzy, {
      nEpochs, initialAlpha: alpha, seed,
      onEpoch: onProgress ? (done, total) => { if (done % every === 0) onProgress(0.4 + 0.59 * (done / total), "layout"); } : undefined,
    });

    // neighbour graph in original indices, for the next frame
    const knnOrig = new Int32Array(n * k).fill(-1);
    for (let r = 0; r < m; r++) {
      for (let s = 0; s < graph.k; s++) {
        const j = graph.indices[r * graph.k + s];
        knnOrig[rows[r] * k + s] = j >= 0 ? rows[j] : -1;
      }
    }
    return finish(emb, cold, { pre, knn: knnOrig, k });
  }
}
