/**
 * The k nearest neighbours of every sample of one frame, in the activations' own space (PCA to
 * DEFAULT_PCA_DIMS first when wider: distances there match the full-D ones closely). Rows with a
 * NaN/Inf value have no neighbours and are nobody's. Used to find the samples that moved most.
 */
import { knnBruteForce, knnDescent } from "./knn.ts";
import { pca } from "./pca.ts";
import { DEFAULT_EXACT_KNN_BELOW, DEFAULT_PCA_DIMS, finiteRows } from "./pipeline.ts";

/** Neighbours per sample for the movers score (kNN Jaccard@10, like the kernel's knn_jaccard_prev). */
export const MOVER_NEIGHBOURS = 10;

/** n×k neighbour indices (original rows, self excluded, −1 = none), nearest first. */
export function frameNeighbours(x: Float32Array, n: number, d: number, k = MOVER_NEIGHBOURS, seed = 7): Int32Array {
  const out = new Int32Array(n * k).fill(-1);
  const data = finiteRows(x, n, d);
  const { m, rows } = data;
  if (m < 2 || d === 0) return out;
  let z = data.xc, dims = d;
  if (d > DEFAULT_PCA_DIMS) {
    z = pca(data.xc, m, d, DEFAULT_PCA_DIMS, { seed }).scores;
    dims = DEFAULT_PCA_DIMS;
  }
  const kk = Math.min(k + 1, m); // the graph's first neighbour is the point itself
  const graph = m < DEFAULT_EXACT_KNN_BELOW ? knnBruteForce(z, m, dims, kk) : knnDescent(z, m, dims, kk, { seed });
  for (let r = 0; r < m; r++) {
    let s = 0;
    for (let t = 0; t < graph.k && s < k; t++) {
      const j = graph.indices[r * graph.k + t];
      if (j < 0 || j === r) continue;
      out[rows[r] * k + s++] = rows[j];
    }
  }
  return out;
}
