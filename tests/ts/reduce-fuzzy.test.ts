import test from "node:test";
import assert from "node:assert/strict";
import { UMAP } from "umap-js";
import { knnBruteForce } from "../../src/reduce/knn.ts";
import { fuzzySimplicialSet } from "../../src/reduce/fuzzy.ts";
import { clusters } from "../../bench/lib/synthetic.ts";

test("fuzzy simplicial set equals umap-js's graph for the same kNN", () => {
  const n = 300, d = 10, k = 15;
  const { x } = clusters(n, d, { clusters: 4, seed: 11 });
  // a few duplicated points exercise rho = 0 / d − rho ≤ 0 paths
  for (let p = 0; p < d; p++) { x[5 * d + p] = x[4 * d + p]; x[6 * d + p] = x[4 * d + p]; }
  const g = knnBruteForce(x, n, d, k);
  const ours = fuzzySimplicialSet(g);

  const rows: number[][] = [], dists: number[][] = [], X: number[][] = [];
  for (let i = 0; i < n; i++) {
    rows.push(Array.from(g.indices.subarray(i * k, i * k + k)));
    dists.push(Array.from(g.distances.subarray(i * k, i * k + k)));
    X.push(Array.from(x.subarray(i * d, i * d + d)));
  }
  const u = new UMAP({ nNeighbors: k });
  u.setPrecomputedKNN(rows, dists);
  // the private graph builder, called directly (initializeFit would also build search trees)
  const ref = (u as unknown as { fuzzySimplicialSet(X: number[][], k: number, mix: number): { getAll(): { row: number; col: number; value: number }[] } })
    .fuzzySimplicialSet(X, k, 1.0);
  const refMap = new Map<number, number>();
  for (const e of ref.getAll()) if (e.value > 0) refMap.set(e.row * n + e.col, e.value);

  const ourMap = new Map<number, number>();
  for (let e = 0; e < ours.weight.length; e++) {
    const key = ours.head[e] * n + ours.tail[e];
    assert.ok(!ourMap.has(key), "no duplicate edges");
    ourMap.set(key, ours.weight[e]);
  }
  assert.equal(ourMap.size, refMap.size, "same edge set size");
  let maxDiff = 0;
  for (const [key, v] of refMap) {
    const w = ourMap.get(key);
    assert.ok(w !== undefined, `edge ${Math.floor(key / n)}→${key % n} missing`);
    maxDiff = Math.max(maxDiff, Math.abs(w - v));
  }
  assert.ok(maxDiff < 1e-5, `max weight difference ${maxDiff}`);
  // symmetric
  for (const [key, v] of ourMap) assert.equal(ourMap.get((key % n) * n + Math.floor(key / n)), v);
});
