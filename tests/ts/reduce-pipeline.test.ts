import test from "node:test";
import assert from "node:assert/strict";
import { LayerReducer } from "../../src/reduce/pipeline.ts";
import { quality } from "../../bench/lib/quality.ts";
import { clusters, jitter } from "../../bench/lib/synthetic.ts";

const finiteRows = (xy: Float32Array): number => {
  let c = 0;
  for (let i = 0; i < xy.length / 2; i++) if (Number.isFinite(xy[2 * i]) && Number.isFinite(xy[2 * i + 1])) c++;
  return c;
};

test("n = 0, 1, 2 never throw and give trivial layouts", () => {
  for (const method of ["umap", "tsne", "pca"] as const) {
    const r = new LayerReducer({ method });
    const r0 = r.reduce(new Float32Array(0), 0, 5);
    assert.equal(r0.xy.length, 0);
    const r1 = r.reduce(new Float32Array([1, 2, 3]), 1, 3);
    assert.deepEqual(Array.from(r1.xy), [0, 0]);
    assert.ok(r1.notes.some((s) => s.includes("point count changed 0→1")));
    const r2 = r.reduce(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3);
    assert.equal(finiteRows(r2.xy), 2);
    assert.notDeepEqual([r2.xy[0], r2.xy[1]], [r2.xy[2], r2.xy[3]]);
    assert.equal(r2.method, method);
    // zero-dimensional rows
    assert.equal(finiteRows(r.reduce(new Float32Array(0), 4, 0).xy), 4);
  }
});

test("rows with NaN/Inf are excluded and returned as NaN; the rest is laid out", () => {
  const n = 300, d = 12;
  const { x } = clusters(n, d, { seed: 5 });
  x[3 * d + 2] = NaN; x[10 * d] = Infinity; x[299 * d + 11] = -Infinity;
  for (const method of ["umap", "tsne", "pca"] as const) {
    const r = new LayerReducer({ method });
    const res = r.reduce(x, n, d);
    assert.equal(res.excluded, 3);
    assert.ok(res.notes.some((s) => s.includes("3 rows with NaN/Inf excluded")));
    for (const i of [3, 10, 299]) assert.ok(Number.isNaN(res.xy[2 * i]) && Number.isNaN(res.xy[2 * i + 1]));
    assert.equal(finiteRows(res.xy), n - 3);
    // next frame: the bad rows become finite again → warm, and they get positions
    const { x: clean } = clusters(n, d, { seed: 5 });
    const next = r.reduce(clean, n, d);
    assert.equal(next.excluded, 0);
    assert.equal(finiteRows(next.xy), n);
    if (method === "umap") {
      assert.equal(next.cold, false);
      assert.ok(next.notes.some((s) => s.includes("placed near their neighbours")));
    }
  }
});

test("point count or dimension change mid-run: fresh cold fit with a note", () => {
  const { x } = clusters(500, 16, { seed: 6 });
  const r = new LayerReducer({ method: "umap", seed: 1 });
  assert.equal(r.reduce(x, 500, 16).cold, true);
  const warm = r.reduce(jitter(x, 0.01), 500, 16);
  assert.equal(warm.cold, false);
  assert.deepEqual(warm.notes, []);
  const fewer = r.reduce(x.subarray(0, 400 * 16), 400, 16);
  assert.equal(fewer.cold, true);
  assert.ok(fewer.notes.includes("point count changed 500→400: cold fit"), fewer.notes.join("; "));
  const { x: x8 } = clusters(400, 8, { seed: 6 });
  const narrower = r.reduce(x8, 400, 8);
  assert.equal(narrower.cold, true);
  assert.ok(narrower.notes.includes("dimension changed 16→8: cold fit"));
  assert.equal(r.reduce(x8, 400, 8).cold, false);
});

test("n ≤ nNeighbors falls back to PCA with a note; d < 3 works", () => {
  const { x } = clusters(12, 5, { seed: 7 });
  const res = new LayerReducer({ method: "umap" }).reduce(x, 12, 5);
  assert.equal(finiteRows(res.xy), 12);
  assert.ok(res.notes.some((s) => s.includes("PCA layout")));
  for (const d of [1, 2]) {
    const { x: xs } = clusters(200, d, { seed: 8 });
    for (const method of ["umap", "tsne", "pca"] as const) {
      const out = new LayerReducer({ method }).reduce(xs, 200, d);
      assert.equal(finiteRows(out.xy), 200, `${method} d=${d}`);
    }
  }
  // d = 2 with PCA is a rigid copy of the data: perfect neighbourhoods
  const { x: x2 } = clusters(200, 2, { seed: 9 });
  const p = new LayerReducer({ method: "pca" }).reduce(x2, 200, 2);
  assert.ok(quality(x2, 200, 2, p.xy).knnRecall > 0.999);
});

test("duplicate points (including an all-identical frame) give finite positions", () => {
  const n = 200, d = 8;
  const { x } = clusters(n, d, { seed: 10 });
  for (let i = 0; i < 60; i++) for (let p = 0; p < d; p++) x[i * d + p] = x[p]; // 60 copies of row 0
  const r = new LayerReducer({ method: "umap" });
  assert.equal(finiteRows(r.reduce(x, n, d).xy), n);
  const same = new Float32Array(n * d).fill(1.5);
  const res = r.reduce(same, n, d);
  assert.equal(finiteRows(res.xy), n);
  assert.equal(finiteRows(new LayerReducer({ method: "pca" }).reduce(same, n, d).xy), n);
});

test("PCA reducer: warm frames stay oriented; onProgress is called; bad shapes throw", () => {
  const n = 400, d = 30;
  const { x } = clusters(n, d, { seed: 12 });
  const r = new LayerReducer({ method: "pca" });
  const a = r.reduce(x, n, d);
  const b = r.reduce(jitter(x, 0.01), n, d);
  assert.equal(b.cold, false);
  let maxMove = 0, scale = 0;
  for (let i = 0; i < 2 * n; i++) { maxMove = Math.max(maxMove, Math.abs(a.xy[i] - b.xy[i])); scale = Math.max(scale, Math.abs(a.xy[i])); }
  assert.ok(maxMove < 0.05 * scale, `moved ${maxMove} of ${scale}`);
  const stages = new Set<string>();
  let last = -1, monotone = true;
  new LayerReducer({ method: "umap" }).reduce(x, n, d, (f, s) => { stages.add(s); if (f < last) monotone = false; last = f; });
  assert.ok(["pca", "knn", "graph", "layout", "done"].every((s) => stages.has(s)), [...stages].join(","));
  assert.ok(monotone);
  assert.equal(last, 1);
  assert.throws(() => r.reduce(new Float32Array(10), 5, 3), /expected n\*d/);
  assert.throws(() => new LayerReducer({ method: "bogus" as "umap" }));
});

test("a frame whose neighbourhoods changed completely is fitted cold, as a fresh view of it", () => {
  const n = 600, d = 20;
  const { x: a } = clusters(n, d, { clusters: 6, seed: 31 });
  const { x: b } = clusters(n, d, { clusters: 6, seed: 32 }); // same shape, unrelated geometry
  const r = new LayerReducer({ method: "umap", seed: 2 });
  r.reduce(a, n, d);
  const res = r.reduce(b, n, d);
  assert.equal(res.cold, true);
  // Caught by the neighbours kept or by the faithfulness check, and said either way.
  assert.ok(res.notes.some((s) => /neighbourhoods changed a lot|refitted cold/.test(s)), res.notes.join("; "));
  const fresh = new LayerReducer({ method: "umap", seed: 2 }).reduce(b, n, d);
  const qWarm = quality(b, n, d, res.xy).trustworthiness, qCold = quality(b, n, d, fresh.xy).trustworthiness;
  assert.ok(Math.abs(qWarm - qCold) < 1e-6, `after a big change ${qWarm} vs a fresh view ${qCold}`);
});
