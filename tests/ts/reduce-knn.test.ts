import test from "node:test";
import assert from "node:assert/strict";
import { knnBruteForce, knnDescent, refineNeighbours } from "../../src/reduce/knn.ts";
import { knnGraphRecall } from "../../bench/lib/quality.ts";
import { clusters, jitter } from "../../bench/lib/synthetic.ts";

/** Naive reference: full sort of every row. */
function naive(x: Float32Array, n: number, d: number, k: number): Int32Array {
  const out = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    const ds: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += (x[i * d + p] - x[j * d + p]) ** 2;
      ds.push([j === i ? -1 : s, j]);
    }
    ds.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let t = 0; t < k; t++) out[i * k + t] = ds[t][1];
  }
  return out;
}

test("brute-force kNN equals a naive full sort; rows start with self, distances ascend", () => {
  const n = 150, d = 6, k = 8;
  const { x } = clusters(n, d, { seed: 2 });
  const g = knnBruteForce(x, n, d, k);
  const ref = naive(x, n, d, k);
  assert.deepEqual(Array.from(g.indices), Array.from(ref));
  for (let i = 0; i < n; i++) {
    assert.equal(g.distances[i * k], 0);
    for (let t = 1; t < k; t++) assert.ok(g.distances[i * k + t] >= g.distances[i * k + t - 1]);
  }
  // distances are Euclidean (not squared)
  const j = g.indices[1];
  let s = 0;
  for (let p = 0; p < d; p++) s += (x[p] - x[j * d + p]) ** 2;
  assert.ok(Math.abs(g.distances[1] - Math.sqrt(s)) < 1e-5);
});

test("cold NN-descent reaches recall ≥ 0.95 against brute force", () => {
  const n = 3000, d = 24, k = 15;
  const { x } = clusters(n, d, { clusters: 8, latent: 10, seed: 4 });
  const exact = knnBruteForce(x, n, d, k);
  const approx = knnDescent(x, n, d, k, { seed: 1 });
  const recall = knnGraphRecall(approx, exact);
  assert.ok(recall >= 0.95, `recall ${recall}`);
  for (let i = 0; i < n; i++) assert.equal(approx.indices[i * k], i);
});

test("warm NN-descent from the previous frame's graph recovers the new neighbours", () => {
  const n = 3000, d = 24, k = 15;
  const { x } = clusters(n, d, { clusters: 8, latent: 10, seed: 4 });
  const first = knnDescent(x, n, d, k, { seed: 1 });
  const x2 = jitter(x, 0.25, 5);
  const exact2 = knnBruteForce(x2, n, d, k);
  const stale = knnGraphRecall(first, exact2);
  const warm = knnDescent(x2, n, d, k, { init: first.indices, iterations: 2, seed: 2 });
  const recall = knnGraphRecall(warm, exact2);
  assert.ok(recall >= 0.95, `warm recall ${recall} (stale graph ${stale})`);
  assert.ok(recall > stale, "warm rounds improve on the stale graph");
});

test("duplicates and tiny inputs: no self-duplicates, no -1 when enough points", () => {
  const n = 40, d = 3, k = 6;
  const x = new Float32Array(n * d); // all identical
  for (const g of [knnBruteForce(x, n, d, k), knnDescent(x, n, d, k, { seed: 3 })]) {
    for (let i = 0; i < n; i++) {
      const row = Array.from(g.indices.subarray(i * k, i * k + k));
      assert.equal(row[0], i);
      assert.equal(new Set(row).size, k, `row ${i} has repeated neighbours: ${row}`);
      assert.ok(row.every((j) => j >= 0));
    }
  }
  const small = knnDescent(new Float32Array([0, 0, 1, 1, 2, 2]), 3, 2, 15);
  assert.equal(small.k, 3);
  assert.deepEqual(Array.from(small.indices.subarray(0, 3)), [0, 1, 2]);
});

test("refineNeighbours: the previous graph refined finds the new neighbours of a frame that moved a little", () => {
  const n = 1500, d = 16;
  const { x } = clusters(n, d, { seed: 3 });
  for (const k of [15, 91]) {
    const before = knnBruteForce(x, n, d, k);
    const moved = jitter(x, 0.05);
    const exact = knnBruteForce(moved, n, d, k);
    const got = refineNeighbours(moved, n, d, k, before.indices);
    let same = 0;
    for (let i = 0; i < n; i++) {
      assert.equal(got.indices[i * k], i);
      const want = new Set(exact.indices.subarray(i * k, i * k + k));
      for (let s = 0; s < k; s++) {
        if (want.has(got.indices[i * k + s])) same++;
        if (s > 0) assert.ok(got.distances[i * k + s] >= got.distances[i * k + s - 1]);
      }
    }
    assert.ok(same / (n * k) > 0.97, `k=${k}: recall ${same / (n * k)}`);
  }
});
