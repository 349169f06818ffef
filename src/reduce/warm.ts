/**
 * What a reduced frame leaves for the frames next to it (its warm state), the states a layer's
 * reducer keeps by frame, and the conversions between a state's rows and a new frame's packed rows.
 * A frame warm-starts only from the state of a frame the caller names (one near it in training
 * order), never from whichever frame happened to be reduced last.
 */
import { nearest, type KnnGraph } from "./knn.ts";
import { sqDistances } from "./kernels.ts";
import { Rng } from "./rng.ts";
import type { PcaResult } from "./pca.ts";
import type { Faithfulness } from "./faithfulness.ts";

export interface WarmState {
  n: number;
  d: number;
  /** Aligned output of the frame (2n, NaN where excluded). */
  xy: Float32Array | null;
  pre: PcaResult | null;
  /** Warm frames since `pre`'s basis was last refined. */
  basisAge?: number;
  pca2: PcaResult | null;
  /** n×k neighbour graph in original row indices (−1 = none). */
  knn: Int32Array | null;
  k: number;
  /** Faithfulness of the cold fit this layout descends from (warm frames inherit it). */
  reference: Faithfulness | null;
}

/** The finite rows of one frame, packed: `xc` is m×d, `rows[r]` the original index of row r. */
export interface Rows {
  n: number;
  d: number;
  m: number;
  rows: Int32Array;
  xc: Float32Array;
}

/** Warm states kept per layer and reducer: enough for a scrub back and forth over a few frames... */
export const WARM_STATES_KEPT = 12;
/** ...within this many bytes (a 50k-point state holds ~3.5 MB, mostly its neighbour graph). */
export const WARM_STATE_BYTES = 96 * 1024 * 1024;

const bytesOf = (s: WarmState): number =>
  (s.xy?.byteLength ?? 0) + (s.knn?.byteLength ?? 0) + (s.pre ? s.pre.basis.byteLength + s.pre.scores.byteLength : 0);

/** Warm states by frame (seq), least recently stored dropped first; the newest is always kept. */
export class WarmStates {
  private readonly map = new Map<number, WarmState>();
  private bytes = 0;
  /** The most recently stored state (a sequential caller's default warm start). */
  last: WarmState | null = null;

  put(seq: number, state: WarmState): void {
    this.drop(seq);
    this.map.set(seq, state);
    this.bytes += bytesOf(state);
    this.last = state;
    for (const key of this.map.keys()) {
      if (this.map.size <= 1 || (this.map.size <= WARM_STATES_KEPT && this.bytes <= WARM_STATE_BYTES)) break;
      this.drop(key);
    }
  }

  get(seq: number): WarmState | undefined {
    return this.map.get(seq);
  }

  private drop(seq: number): void {
    const s = this.map.get(seq);
    if (s === undefined) return;
    this.bytes -= bytesOf(s);
    this.map.delete(seq);
  }
}

/** A state's graph (original indices) in a frame's packed row indices. */
export function graphInPacked(knn: Int32Array, k: number, data: Rows): Int32Array {
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

/** A frame's graph (packed indices) in original row indices, for the frames after it. */
export function graphInRows(graph: KnnGraph, data: Rows, k: number): Int32Array {
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

/** Points whose exact neighbours estimate the share kept (~0.01 standard error with 14 neighbours each). */
export const KEEP_SAMPLE = 128;
/** Sampled points per distance pass (bounds the pass's memory: 16 × m doubles). */
const KEEP_CHUNK = 16;

/**
 * Share of the exact k − 1 nearest neighbours of KEEP_SAMPLE seeded points of z (m×dims) that
 * were their neighbours in `init`. A graph refined from `init` can only find neighbours near the
 * old ones, so its own kept share overstates how much stayed (0.32 against 0.14 measured for a
 * frame unrelated to the one before): whether a frame is near the one it starts from is judged
 * on exact neighbours.
 */
export function sampledKeptShare(z: Float32Array, m: number, dims: number, k: number, init: Int32Array, seed: number): number {
  const K = Math.min(k - 1, m - 1);
  if (K < 1) return 1;
  const rng = new Rng(seed ^ 0x4b1d);
  const picked = new Set<number>();
  while (picked.size < Math.min(KEEP_SAMPLE, m)) picked.add(rng.int(m));
  const sample = Int32Array.from(picked);
  let same = 0, total = 0;
  for (let c0 = 0; c0 < sample.length; c0 += KEEP_CHUNK) {
    const queries = sample.subarray(c0, c0 + KEEP_CHUNK);
    const all = sqDistances(z, m, dims, queries);
    queries.forEach((q, c) => {
      const row = all.subarray(c * m, c * m + m);
      row[q] = Infinity;
      for (const j of nearest(row, K)) {
        total++;
        for (let t = 0; t < k; t++) if (init[q * k + t] === j) { same++; break; }
      }
    });
  }
  return total > 0 ? same / total : 1;
}

/**
 * The state's positions of the packed rows; rows without one start at their neighbours' mean in
 * `graph` (or the centre without a graph). Returns the positions and how many rows were placed.
 */
export function warmPositions(prevXy: Float32Array, data: Rows, graph: KnnGraph | null): [Float32Array, number] {
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
    for (let s = 1; graph !== null && s < graph.k; s++) {
      const j = graph.indices[r * graph.k + s];
      if (j >= 0 && has[j]) { sx += emb[2 * j]; sy += emb[2 * j + 1]; sc++; }
    }
    emb[2 * r] = sc > 0 ? sx / sc : cx;
    emb[2 * r + 1] = sc > 0 ? sy / sc : cy;
    placed++;
  }
  return [emb, placed];
}
