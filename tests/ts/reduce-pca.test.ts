import test from "node:test";
import assert from "node:assert/strict";
import { pca } from "../../src/reduce/pca.ts";
import { symEig } from "../../src/reduce/linalg.ts";
import { Rng } from "../../src/reduce/rng.ts";

/** Data with a known, well-separated spectrum: x = z·diag(s)·Qᵀ + mean, Q random orthogonal. */
function spectral(n: number, d: number, scales: number[], seed = 3): Float32Array {
  const rng = new Rng(seed);
  const q = new Float64Array(d * d).map(() => rng.normal());
  // Gram–Schmidt columns
  for (let c = 0; c < d; c++) {
    for (let b = 0; b < c; b++) {
      let dot = 0;
      for (let r = 0; r < d; r++) dot += q[r * d + c] * q[r * d + b];
      for (let r = 0; r < d; r++) q[r * d + c] -= dot * q[r * d + b];
    }
    let nr = 0;
    for (let r = 0; r < d; r++) nr += q[r * d + c] ** 2;
    for (let r = 0; r < d; r++) q[r * d + c] /= Math.sqrt(nr);
  }
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      const z = rng.normal() * (scales[c] ?? 0.05);
      for (let r = 0; r < d; r++) x[i * d + r] += z * q[r * d + c];
    }
    for (let r = 0; r < d; r++) x[i * d + r] += 5 + r; // non-zero mean: centering matters
  }
  return x;
}

/** Reference: dense covariance + Jacobi eigen-decomposition. */
function reference(x: Float32Array, n: number, d: number) {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) mean[p] += x[i * d + p] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) cov[a * d + b] += ((x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b])) / (n - 1);
  return symEig(cov, d);
}

test("symEig diagonalises a symmetric matrix", () => {
  const a = Float64Array.of(4, 1, 2, 1, 3, 0, 2, 0, 1);
  const { values, vectors } = symEig(a, 3);
  for (let c = 0; c < 3; c++) {
    for (let r = 0; r < 3; r++) {
      let av = 0;
      for (let j = 0; j < 3; j++) av += a[r * 3 + j] * vectors[j * 3 + c];
      assert.ok(Math.abs(av - values[c] * vectors[r * 3 + c]) < 1e-9);
    }
  }
  assert.ok(values[0] >= values[1] && values[1] >= values[2]);
});

test("randomized PCA matches the dense eigen-decomposition (variances and directions)", () => {
  const n = 400, d = 30, k = 5;
  const scales = [10, 7, 5, 3, 2, 1, 0.8, 0.6];
  const x = spectral(n, d, scales);
  const ref = reference(x, n, d);
  const res = pca(x, n, d, k, { seed: 5 });
  for (let c = 0; c < k; c++) {
    assert.ok(Math.abs(res.variances[c] - ref.values[c]) / ref.values[c] < 1e-3, `variance ${c}: ${res.variances[c]} vs ${ref.values[c]}`);
    let dot = 0;
    for (let p = 0; p < d; p++) dot += res.components[c * d + p] * ref.vectors[p * d + c];
    assert.ok(Math.abs(dot) > 0.999, `component ${c} |cos| = ${Math.abs(dot)}`);
  }
  let total = 0;
  for (let c = 0; c < d; c++) total += ref.values[c];
  assert.ok(Math.abs(res.totalVariance - total) / total < 1e-6);
  // scores are the centred data projected on the components
  for (const i of [0, 17, 399]) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += (x[i * d + p] - res.mean[p]) * res.components[c * d + p];
      assert.ok(Math.abs(s - res.scores[i * k + c]) < 1e-3 * Math.sqrt(ref.values[0]));
    }
  }
});

test("PCA signs are deterministic (independent of the random start)", () => {
  const n = 300, d = 12;
  const x = spectral(n, d, [6, 4, 2, 1]);
  const a = pca(x, n, d, 3, { seed: 1 }), b = pca(x, n, d, 3, { seed: 999 });
  for (let i = 0; i < 3 * d; i++) assert.ok(Math.abs(a.components[i] - b.components[i]) < 1e-6);
});

test("warm-started PCA (one iteration) tracks a slowly changing subspace", () => {
  const n = 400, d = 40, k = 4;
  const x1 = spectral(n, d, [10, 6, 4, 3, 1], 3);
  const first = pca(x1, n, d, k, { seed: 2 });
  // second frame: same generator with slightly perturbed data
  const rng = new Rng(4);
  const x2 = x1.map((v) => v + 0.05 * rng.normal());
  const warm = pca(x2, n, d, k, { warmBasis: first.basis, prevComponents: first.components, iterations: 1 });
  const ref = reference(x2, n, d);
  for (let c = 0; c < k; c++) {
    assert.ok(Math.abs(warm.variances[c] - ref.values[c]) / ref.values[c] < 1e-2, `variance ${c}`);
    let dot = 0;
    for (let p = 0; p < d; p++) dot += warm.components[c * d + p] * first.components[c * d + p];
    assert.ok(dot > 0.99, `sign/direction kept for component ${c}: ${dot}`);
  }
});

test("PCA of constant data does not produce NaN", () => {
  const n = 50, d = 6;
  const x = new Float32Array(n * d).fill(3);
  const res = pca(x, n, d, 2);
  assert.ok(res.scores.every((v) => v === 0 || Math.abs(v) < 1e-9));
  assert.ok(res.components.every(Number.isFinite));
});

test("lagged warm PCA: projects on the previous basis, falls back when it stops capturing the variance", () => {
  const n = 400, d = 40, k = 4;
  const x1 = spectral(n, d, [10, 6, 4, 3, 1], 3);
  const first = pca(x1, n, d, k, { seed: 2 });
  assert.ok(first.capturedL > 0.9 && first.capturedL <= 1);
  const rng = new Rng(4);
  const x2 = x1.map((v) => v + 0.05 * rng.normal());
  const lag = pca(x2, n, d, k, { warmBasis: first.basis, prevComponents: first.components, lagged: true, minCaptured: first.capturedL - 0.02 });
  assert.equal(lag.lagged, true);
  const ref = reference(x2, n, d);
  for (let c = 0; c < k; c++) assert.ok(Math.abs(lag.variances[c] - ref.values[c]) / ref.values[c] < 1e-2, `variance ${c}`);
  // a frame whose variance lives in a different subspace: the stale basis captures little → iterate now
  const other = spectral(n, d, [10, 6, 4, 3, 1], 77);
  const fresh = pca(other, n, d, k, { warmBasis: first.basis, prevComponents: first.components, lagged: true, minCaptured: first.capturedL - 0.02, iterations: 3 });
  assert.equal(fresh.lagged, false);
  const refO = reference(other, n, d);
  assert.ok(Math.abs(fresh.variances[0] - refO.values[0]) / refO.values[0] < 1e-2);
});
