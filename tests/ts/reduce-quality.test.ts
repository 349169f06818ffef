import test from "node:test";
import assert from "node:assert/strict";
import { quality, qualityReference, embeddingQuality } from "../../bench/lib/quality.ts";
import { Rng } from "../../src/reduce/rng.ts";
import { clusters } from "../../bench/lib/synthetic.ts";

test("trustworthiness and recall are 1 for an isometric embedding, low for a random one", () => {
  const n = 600;
  const { x } = clusters(n, 2, { seed: 1 });
  const q = quality(x, n, 2, x, { k: 10, queries: 500 });
  assert.equal(q.queries, 500);
  assert.ok(q.trustworthiness > 0.9999 && q.knnRecall > 0.999, JSON.stringify(q));
  const rng = new Rng(2);
  const rnd = new Float32Array(2 * n).map(() => rng.next());
  const qr = quality(x, n, 2, rnd);
  assert.ok(qr.trustworthiness < 0.6 && qr.knnRecall < 0.1, JSON.stringify(qr));
});

test("trustworthiness matches the textbook formula computed over all points", () => {
  const n = 120, d = 5, k = 5;
  const { x } = clusters(n, d, { seed: 3 });
  const rng = new Rng(4);
  const y = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { y[2 * i] = x[i * d] + 0.5 * rng.normal(); y[2 * i + 1] = x[i * d + 1] + 0.5 * rng.normal(); }
  const dist = (a: Float32Array, dim: number, i: number, j: number) => { let s = 0; for (let p = 0; p < dim; p++) s += (a[i * dim + p] - a[j * dim + p]) ** 2; return s; };
  let pen = 0;
  for (let i = 0; i < n; i++) {
    const others = [...Array(n).keys()].filter((j) => j !== i);
    const high = [...others].sort((a, b) => dist(x, d, i, a) - dist(x, d, i, b));
    const low = [...others].sort((a, b) => dist(y, 2, i, a) - dist(y, 2, i, b)).slice(0, k);
    for (const j of low) { const r = high.indexOf(j) + 1; if (r > k) pen += r - k; }
  }
  const expected = 1 - (2 / (n * k * (2 * n - 3 * k - 1))) * pen;
  const got = quality(x, n, d, y, { k, queries: n });
  assert.ok(Math.abs(got.trustworthiness - expected) < 1e-9, `${got.trustworthiness} vs ${expected}`);
});

test("non-finite rows are skipped by the reference and the evaluation", () => {
  const n = 200, d = 4;
  const { x } = clusters(n, d, { seed: 5 });
  x[0] = NaN;
  const ref = qualityReference(x, n, d, { queries: 500 });
  assert.equal(ref.nValid, n - 1);
  assert.equal(ref.queries.length, n - 1);
  const y = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { y[2 * i] = x[i * d]; y[2 * i + 1] = x[i * d + 1]; }
  y[2 * 7] = NaN;
  const q = embeddingQuality(ref, y);
  assert.ok(Number.isFinite(q.trustworthiness) && q.trustworthiness > 0.5);
});
