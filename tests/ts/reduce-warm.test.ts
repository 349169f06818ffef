import test from "node:test";
import assert from "node:assert/strict";
import { inLocalityOrder } from "../../src/reduce/locality.ts";
import { finiteRows, LayerReducer } from "../../src/reduce/pipeline.ts";
import { knnBruteForce, refineNeighbours } from "../../src/reduce/knn.ts";
import { sampledKeptShare } from "../../src/reduce/warm.ts";
import { faithfulness } from "../../src/reduce/faithfulness.ts";
import { quality } from "../../bench/lib/quality.ts";
import { clusters, jitter } from "../../bench/lib/synthetic.ts";

test("locality order permutes whole rows, puts unknown positions last, and leaves small frames alone", () => {
  const n = 500, d = 3;
  const x = Float32Array.from({ length: n * d }, (_, i) => i);
  const data = finiteRows(x, n, d);
  const xy = Float32Array.from({ length: 2 * n }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
  xy[2 * 7] = NaN; // row 7 has no previous position
  assert.equal(inLocalityOrder(data, xy, n + 1), data, "below the minimum: unchanged");
  const sorted = inLocalityOrder(data, xy, 0);
  assert.deepEqual([...sorted.rows].sort((a, b) => a - b), [...data.rows], "a permutation of the rows");
  for (let r = 0; r < n; r++) assert.deepEqual([...sorted.xc.subarray(r * d, r * d + d)], [...x.subarray(sorted.rows[r] * d, sorted.rows[r] * d + d)]);
  assert.equal(sorted.rows[n - 1], 7, "the row without a position goes last");
});

test("in locality order a point's layout neighbours sit near it in memory", () => {
  const n = 4000;
  // points on a 2-D grid, listed in a scrambled order
  const perm = Int32Array.from({ length: n }, (_, i) => (i * 2654435761) % n);
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { xy[2 * i] = perm[i] % 64; xy[2 * i + 1] = Math.floor(perm[i] / 64); }
  const data = finiteRows(new Float32Array(xy), n, 2);
  const gap = (rows: Int32Array): number => {
    const packed = new Int32Array(n);
    rows.forEach((orig, r) => { packed[orig] = r; });
    const g = knnBruteForce(xy, n, 2, 5);
    let s = 0, c = 0;
    for (let i = 0; i < n; i++) for (let t = 1; t < 5; t++) { s += Math.abs(packed[i] - packed[g.indices[i * 5 + t]]); c++; }
    return s / c;
  };
  const before = gap(data.rows), after = gap(inLocalityOrder(data, xy, 0).rows);
  assert.ok(after < before / 10, `mean index gap between neighbours ${after.toFixed(0)} (was ${before.toFixed(0)})`);
});

test("a warm frame reduced in locality order is as faithful and keeps every row in place", () => {
  const n = 900, d = 24;
  const { x } = clusters(n, d, { clusters: 6, seed: 41 });
  const next = jitter(x, 0.02, 3);
  for (let i = 0; i < d; i++) next[5 * d + i] = NaN; // row 5 drops out in the warm frame
  for (const method of ["umap", "tsne"] as const) {
    const plain = new LayerReducer({ method, seed: 3 });
    const local = new LayerReducer({ method, seed: 3, localityMinRows: 0 });
    const a = plain.reduce(x, n, d), b = local.reduce(x, n, d);
    assert.deepEqual(b.xy, a.xy, `${method}: a cold fit is not reordered`);
    const wa = plain.reduce(next, n, d), wb = local.reduce(next, n, d);
    assert.equal(wb.cold, false);
    assert.ok(Number.isNaN(wb.xy[10]) && Number.isNaN(wb.xy[11]), `${method}: the excluded row stays NaN at its index`);
    const qa = quality(next, n, d, wa.xy).trustworthiness, qb = quality(next, n, d, wb.xy).trustworthiness;
    assert.ok(Math.abs(qa - qb) < 0.01, `${method}: trust ${qb.toFixed(3)} in locality order vs ${qa.toFixed(3)}`);
    // each row's warm position stays near its own previous one: rows came back to their indices
    let move = 0, spread = 0;
    for (let i = 0; i < n; i++) {
      if (i === 5) continue;
      move += Math.hypot(wb.xy[2 * i] - b.xy[2 * i], wb.xy[2 * i + 1] - b.xy[2 * i + 1]);
      spread += Math.hypot(b.xy[2 * i] - b.xy[0], b.xy[2 * i + 1] - b.xy[1]);
    }
    assert.ok(move < 0.1 * spread, `${method}: mean move ${(move / n).toFixed(3)} against a spread of ${(spread / n).toFixed(3)}`);
  }
});

test("the share of neighbours kept is judged on exact neighbours, not on a graph refined from the old one", () => {
  const n = 800, d = 16, k = 15;
  const { x: a } = clusters(n, d, { clusters: 6, seed: 31 });
  const { x: b } = clusters(n, d, { clusters: 6, seed: 32 }); // unrelated geometry
  const init = knnBruteForce(a, n, d, k).indices;
  assert.equal(sampledKeptShare(a, n, d, k, init, 1), 1, "the same frame keeps every neighbour");
  const jittered = sampledKeptShare(jitter(a, 0.05, 2), n, d, k, init, 1);
  assert.ok(jittered > 0.6 && jittered < 1, `a jittered frame keeps most (${jittered.toFixed(2)})`);
  const unrelated = sampledKeptShare(b, n, d, k, init, 1);
  const refined = refineNeighbours(b, n, d, k, init);
  let kept = 0, total = 0;
  for (let i = 0; i < n; i++) for (let s = 1; s < k; s++) { total++; for (let t = 0; t < k; t++) if (init[i * k + t] === refined.indices[i * k + s]) { kept++; break; } }
  assert.ok(unrelated < 0.25, `an unrelated frame keeps ${unrelated.toFixed(2)} (below COLD_KEEP_BELOW)`);
  assert.ok(kept / total > unrelated + 0.1, `the refined graph overstates it: ${(kept / total).toFixed(2)}`);
});

test("faithfulness is measured on the same original rows however the rows are packed", () => {
  const n = 700, d = 12;
  const { x } = clusters(n, d, { clusters: 5, seed: 8 });
  const data = finiteRows(x, n, d);
  const layout = new LayerReducer({ method: "umap", seed: 1 }).reduce(x, n, d).xy;
  const xy = Float32Array.from(layout);
  const sorted = inLocalityOrder(data, xy, 0);
  const packedLayout = new Float32Array(2 * n);
  sorted.rows.forEach((orig, r) => { packedLayout[2 * r] = layout[2 * orig]; packedLayout[2 * r + 1] = layout[2 * orig + 1]; });
  const plain = faithfulness(x, d, x, d, layout, n, null, 3, data.rows);
  const reordered = faithfulness(sorted.xc, d, sorted.xc, d, packedLayout, n, null, 3, sorted.rows);
  assert.equal(reordered.trust, plain.trust, "trustworthiness on the same query points");
  assert.equal(reordered.global, plain.global, "the global measure on the same landmarks");
});
