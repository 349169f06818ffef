import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_COLD_ITERATIONS, DEFAULT_PERPLEXITY, effectivePerplexity, exactNeighbours, tsneAffinities, tsneAffinitiesOf, tsneEmbed,
} from "../../src/reduce/tsne.ts";
import { knnBruteForce } from "../../src/reduce/knn.ts";
import { pca } from "../../src/reduce/pca.ts";
import { Rng } from "../../src/reduce/rng.ts";
import { clusters, jitter } from "../../bench/lib/synthetic.ts";
import { displacement, quality } from "../../bench/lib/quality.ts";

const allFinite = (y: Float32Array): boolean => y.every((v) => Number.isFinite(v));

/** Share of points whose 10 nearest 2-D neighbours mostly carry their own label. */
function labelAgreement(y: Float32Array, labels: Int32Array, k = 10): number {
  const n = labels.length;
  let ok = 0;
  const d = new Float64Array(n), idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) d[j] = j === i ? Infinity : (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2;
    const near = [...idx].sort((a, b) => d[a] - d[b]).slice(0, k);
    if (near.filter((j) => labels[j] === labels[i]).length > k / 2) ok++;
  }
  return ok / n;
}

test("separated clusters come out separated", () => {
  const { x, labels } = clusters(300, 40, { clusters: 5, seed: 3 });
  const y = tsneEmbed(x, 300, 40, { seed: 1 });
  assert.equal(y.length, 600);
  assert.ok(allFinite(y));
  const agree = labelAgreement(y, labels);
  assert.ok(agree > 0.97, `kNN label agreement ${agree}`);
});

test("trustworthiness beats a 2-D PCA projection on a small set", () => {
  const { x } = clusters(400, 30, { clusters: 8, latent: 10, sep: 2, seed: 5 });
  const y = tsneEmbed(x, 400, 30, { seed: 2 });
  const p = pca(x, 400, 30, 2, { seed: 1 }).scores;
  const qt = quality(x, 400, 30, y, { k: 10, queries: 200 });
  const qp = quality(x, 400, 30, p, { k: 10, queries: 200 });
  assert.ok(qt.trustworthiness > 0.9, `t-SNE trust ${qt.trustworthiness}`);
  assert.ok(qt.trustworthiness > qp.trustworthiness + 0.02, `t-SNE ${qt.trustworthiness} vs PCA ${qp.trustworthiness}`);
  assert.ok(qt.knnRecall > qp.knnRecall, `recall t-SNE ${qt.knnRecall} vs PCA ${qp.knnRecall}`);
});

test("deterministic for a given seed", () => {
  const { x } = clusters(150, 20, { seed: 4 });
  const a = tsneEmbed(x, 150, 20, { seed: 9, iterations: 200 });
  const b = tsneEmbed(x, 150, 20, { seed: 9, iterations: 200 });
  assert.deepEqual(a, b);
  const w1 = tsneEmbed(x, 150, 20, { seed: 9, init: a });
  const w2 = tsneEmbed(x, 150, 20, { seed: 9, init: a });
  assert.deepEqual(w1, w2);
});

test("a warm start from a settled layout barely moves; a barely changed frame barely moves", () => {
  const { x } = clusters(300, 30, { seed: 6 });
  const y0 = tsneEmbed(x, 300, 30, { seed: 1 });
  const same = tsneEmbed(x, 300, 30, { seed: 2, init: y0 });
  const nudged = tsneEmbed(jitter(x, 0.01, 3), 300, 30, { seed: 2, init: y0 });
  const coldAgain = tsneEmbed(jitter(x, 0.01, 3), 300, 30, { seed: 5 });
  const dSame = displacement(y0, same, 300), dNudged = displacement(y0, nudged, 300), dCold = displacement(y0, coldAgain, 300);
  assert.ok(dSame < 0.05, `same data: displacement ${dSame}`);
  assert.ok(dNudged < 0.05, `jittered data: displacement ${dNudged}`);
  assert.ok(dNudged < dCold / 3, `warm ${dNudged} vs cold refit ${dCold}`);
});

test("degenerate inputs give finite output", () => {
  const same = new Float32Array(50 * 8).fill(1.5);
  for (const init of [null, new Float32Array(100)]) {
    const y = tsneEmbed(same, 50, 8, { init, iterations: 100 });
    assert.equal(y.length, 100);
    assert.ok(allFinite(y), "identical rows");
  }
  for (const m of [0, 1, 2, 3]) {
    const x = Float32Array.from({ length: m * 4 }, (_, i) => i % 3);
    const y = tsneEmbed(x, m, 4);
    assert.equal(y.length, 2 * m);
    assert.ok(allFinite(y), `m = ${m}`);
  }
  // half the rows duplicated, one dimension, zero dimensions, NaN start positions
  const { x } = clusters(60, 10, { seed: 2 });
  x.copyWithin(30 * 10, 0, 30 * 10);
  assert.ok(allFinite(tsneEmbed(x, 60, 10, { iterations: 150 })), "duplicate rows");
  assert.ok(allFinite(tsneEmbed(Float32Array.from({ length: 40 }, (_, i) => i % 7), 40, 1, { iterations: 150 })), "one dimension");
  assert.ok(allFinite(tsneEmbed(new Float32Array(0), 40, 0, { iterations: 50 })), "zero dimensions");
  const bad = new Float32Array(120).fill(NaN);
  assert.ok(allFinite(tsneEmbed(x, 60, 10, { init: bad, iterations: 50 })), "NaN init");
});

test("perplexity is clamped for tiny m; P is symmetric and sums to 1", () => {
  assert.equal(effectivePerplexity(1000), DEFAULT_PERPLEXITY);
  assert.equal(effectivePerplexity(10, 30), 3);
  assert.equal(effectivePerplexity(2, 30), 1);
  assert.equal(effectivePerplexity(1000, Number.NaN), DEFAULT_PERPLEXITY);
  const { x } = clusters(10, 5, { seed: 8 });
  const P = tsneAffinitiesOf(x, 10, 5, 30);
  assert.equal(P.perplexity, 3);
  let sum = 0;
  const dense = new Float64Array(100);
  for (let i = 0; i < 10; i++) {
    for (let e = P.rowPtr[i]; e < P.rowPtr[i + 1]; e++) { dense[i * 10 + P.cols[e]] += P.vals[e]; sum += P.vals[e]; }
  }
  assert.ok(Math.abs(sum - 1) < 1e-9, `sum ${sum}`);
  for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) assert.ok(Math.abs(dense[i * 10 + j] - dense[j * 10 + i]) < 1e-12);
  assert.ok(allFinite(tsneEmbed(x, 10, 5)), "m = 10 with the default perplexity");
});

test("exact neighbours agree with brute force (also with duplicates)", () => {
  const rng = new Rng(3);
  const m = 700, dims = 12;
  const x = Float32Array.from({ length: m * dims }, () => rng.normal());
  x.copyWithin(600 * dims, 0, 100 * dims); // 100 duplicated rows
  const a = exactNeighbours(x, m, dims, 31), b = knnBruteForce(x, m, dims, 31);
  assert.equal(a.k, 31);
  for (let t = 0; t < a.distances.length; t++) assert.ok(Math.abs(a.distances[t] - b.distances[t]) < 1e-4, `distance ${t}`);
  // the affinities accept any graph in knn.ts's convention
  const P = tsneAffinities(b, 10);
  assert.equal(P.m, m);
});

test("progress reaches the total", () => {
  const { x } = clusters(80, 6, { seed: 1 });
  const calls: [number, number][] = [];
  tsneEmbed(x, 80, 6, { iterations: 35, onIteration: (done, total) => calls.push([done, total]) });
  assert.deepEqual(calls.at(-1), [35, 35]);
  assert.ok(calls.every(([d, t]) => t === 35 && d <= t));
  assert.equal(DEFAULT_COLD_ITERATIONS, 750);
});
