import test from "node:test";
import assert from "node:assert/strict";
import { UMAP } from "umap-js";
import { LayerReducer } from "../../src/reduce/pipeline.ts";
import { quality, displacement } from "../../bench/lib/quality.ts";
import { attrExact, coeffTables, repExact, tabulated, UMAP_A, UMAP_B } from "../../src/reduce/layout.ts";
import { clusters, jitter, seededRandom } from "../../bench/lib/synthetic.ts";

const n = 800, d = 40;
// many clusters on a 20-D latent: a 2-D PCA view overlaps them, so the layout has work to do
const { x } = clusters(n, d, { clusters: 12, latent: 20, sep: 1.5, noise: 0.3, seed: 21 });

test("cold UMAP layout: trustworthiness@10 within 0.01 of umap-js on the same data", () => {
  const X: number[][] = [];
  for (let i = 0; i < n; i++) X.push(Array.from(x.subarray(i * d, i * d + d)));
  const ref = new UMAP({ nNeighbors: 15, random: seededRandom(3) }).fit(X);
  const refXY = Float32Array.from(ref.flat());
  const ours = new LayerReducer({ method: "umap", seed: 3 }).reduce(x, n, d);
  assert.equal(ours.cold, true);
  const qRef = quality(x, n, d, refXY, { k: 10, queries: 500 });
  const qOurs = quality(x, n, d, ours.xy, { k: 10, queries: 500 });
  assert.ok(qOurs.trustworthiness >= qRef.trustworthiness - 0.01,
    `ours ${qOurs.trustworthiness.toFixed(4)} vs umap-js ${qRef.trustworthiness.toFixed(4)}`);
  // the SGD layout improves clearly on its PCA initialisation …
  const pcaView = new LayerReducer({ method: "pca" }).reduce(x, n, d);
  const qPca = quality(x, n, d, pcaView.xy, { k: 10, queries: 500 });
  assert.ok(qOurs.trustworthiness > qPca.trustworthiness + 0.05, `ours ${qOurs.trustworthiness} vs PCA ${qPca.trustworthiness}`);
  // … and on a random layout (the metric can fail)
  const rnd = seededRandom(5);
  const random = new Float32Array(2 * n).map(() => rnd());
  assert.ok(quality(x, n, d, random).trustworthiness < qOurs.trustworthiness - 0.2);
});

test("warm frame: a slightly perturbed second frame moves little and stays aligned", () => {
  const r = new LayerReducer({ method: "umap", seed: 4 });
  const a = r.reduce(x, n, d);
  const x2 = jitter(x, 0.03, 7);
  const b = r.reduce(x2, n, d);
  assert.equal(b.cold, false);
  const warmDisp = displacement(a.xy, b.xy, n);
  // reference: an independent cold fit of the same second frame
  const c = new LayerReducer({ method: "umap", seed: 99 }).reduce(x2, n, d);
  const coldDisp = displacement(a.xy, c.xy, n);
  assert.ok(warmDisp < 0.1, `warm displacement ${warmDisp}`);
  assert.ok(warmDisp < 0.5 * coldDisp, `warm ${warmDisp} vs cold refit ${coldDisp}`);
  // already aligned: Procrustes-free RMS difference is close to the aligned one
  let s = 0, r2 = 0, cx = 0, cy = 0;
  for (let i = 0; i < n; i++) { cx += a.xy[2 * i] / n; cy += a.xy[2 * i + 1] / n; }
  for (let i = 0; i < n; i++) {
    s += (a.xy[2 * i] - b.xy[2 * i]) ** 2 + (a.xy[2 * i + 1] - b.xy[2 * i + 1]) ** 2;
    r2 += (a.xy[2 * i] - cx) ** 2 + (a.xy[2 * i + 1] - cy) ** 2;
  }
  assert.ok(Math.sqrt(s / r2) < warmDisp * 1.05 + 1e-6);
  const q = quality(x2, n, d, b.xy);
  assert.ok(q.trustworthiness > 0.9, `warm trustworthiness ${q.trustworthiness}`);
});

test("tabulated gradient coefficients agree with the exact formulas within 1%", () => {
  const t = coeffTables(UMAP_A, UMAP_B, 1);
  let worst = 0, checked = 0;
  for (let i = 0; i < 20000; i++) {
    const r = 0.01 + i * 0.0032; // 0.01 … 64
    const d2 = r * r;
    const ta = tabulated(t.attr, d2), tr = tabulated(t.rep, d2);
    if (Number.isNaN(ta)) continue;
    checked++;
    worst = Math.max(worst, Math.abs(ta / attrExact(d2, UMAP_A, UMAP_B) - 1), Math.abs(tr / repExact(d2, UMAP_A, UMAP_B, 1) - 1));
  }
  assert.ok(checked > 19000);
  assert.ok(worst < 0.01, `worst relative error ${worst}`);
});
