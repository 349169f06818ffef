import test from "node:test";
import assert from "node:assert/strict";
import { neighbourhoodChange, topMovers } from "../../src/analysis/movers.ts";
import { Rng } from "../../src/reduce/rng.ts";

/** Set-based reference for one row's Jaccard distance. */
function jaccardRef(b: number[], a: number[], i: number, n: number): number {
  const ok = (j: number) => j >= 0 && j < n && j !== i;
  const B = new Set(b.filter(ok)), A = new Set(a.filter(ok));
  if (B.size === 0 || A.size === 0) return NaN;
  let both = 0;
  for (const j of B) if (A.has(j)) both++;
  return 1 - both / (B.size + A.size - both);
}

test("Jaccard distance: identical 0, swapped neighbourhoods 1, half overlap, self/−1/duplicates ignored, empty NaN", () => {
  const n = 6, k = 3;
  // row 0: identical lists in another order; row 1: disjoint; row 2: {3,4,5} vs {4,5,0} → 1 − 2/4
  // row 3: self and −1 ignored, duplicate counted once: {0} vs {0} → 0; row 4: empty before → NaN
  // row 5: {0,1} vs {1} → 1 − 1/2
  const before = new Int32Array([1, 2, 3, 2, 3, 4, 3, 4, 5, 3, 0, -1, -1, 4, -1, 0, 1, 1]);
  const after = new Int32Array([3, 1, 2, 0, 5, 0, 4, 5, 0, 0, 0, 3, 0, 1, 2, 1, -1, 5]);
  const s = neighbourhoodChange(before, after, n, k);
  assert.equal(s[0], 0);
  assert.equal(s[1], 1); // {2,3,4} vs {0,5}
  assert.equal(s[2], 0.5);
  assert.equal(s[3], 0);
  assert.ok(Number.isNaN(s[4]));
  assert.equal(s[5], 0.5);
  // a clean swap of two rows' neighbourhoods gives exactly 1 for both
  const b2 = new Int32Array([2, 3, 4, 5, 0, 1, 0, 1, 0, 1, 0, 1]), a2 = new Int32Array([4, 5, 2, 3, 0, 1, 0, 1, 0, 1, 0, 1]);
  assert.deepEqual(Array.from(neighbourhoodChange(b2, a2, 6, 2)), [1, 1, 0, 0, 0, 0]);
  assert.throws(() => neighbourhoodChange(b2.subarray(0, 4), a2, 6, 2), /expected n\*k = 12/);
});

test("neighbourhoodChange equals a Set-based reference on random lists", () => {
  const rng = new Rng(11);
  const n = 300, k = 8;
  const b = new Int32Array(n * k), a = new Int32Array(n * k);
  for (let t = 0; t < n * k; t++) {
    b[t] = rng.next() < 0.05 ? -1 : rng.int(20) + Math.floor(t / k / 20) * 20;
    a[t] = rng.next() < 0.05 ? -1 : rng.int(20) + Math.floor(t / k / 20) * 20;
  }
  const s = neighbourhoodChange(b, a, n, k);
  for (let i = 0; i < n; i++) {
    const ref = jaccardRef(Array.from(b.subarray(i * k, i * k + k)), Array.from(a.subarray(i * k, i * k + k)), i, n);
    if (Number.isNaN(ref)) assert.ok(Number.isNaN(s[i]), `row ${i}`);
    else assert.ok(Math.abs(s[i] - ref) < 1e-6, `row ${i}: ${s[i]} vs ${ref}`);
  }
});

test("topMovers: largest finite first, ties to the lower index, NaN skipped, count clamped", () => {
  const s = new Float32Array([0.5, NaN, 0.9, 0.5, 1, Infinity, 0.1, 0.9, -Infinity, 0.5]);
  assert.deepEqual(Array.from(topMovers(s, 4)), [4, 2, 7, 0]);
  assert.deepEqual(Array.from(topMovers(s, 6)), [4, 2, 7, 0, 3, 9]);
  assert.deepEqual(Array.from(topMovers(s, 100)), [4, 2, 7, 0, 3, 9, 6]);
  assert.equal(topMovers(s, 0).length, 0);
  assert.equal(topMovers(new Float32Array(0), 5).length, 0);
  // many ties: equals a full stable sort
  const rng = new Rng(3);
  const r = new Float32Array(2000).map(() => (rng.next() < 0.1 ? NaN : rng.int(20) / 20));
  const ref = [...r.keys()].filter((i) => Number.isFinite(r[i])).sort((a, b) => r[b] - r[a] || a - b);
  for (const c of [1, 7, 50, 1999]) assert.deepEqual(Array.from(topMovers(r, c)), ref.slice(0, c), `count ${c}`);
});

/** n points in d dims around 4 random centres (local data, independent of the bench helpers). */
function blobs(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = new Float64Array(4 * d).map(() => 4 * rng.normal());
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let p = 0; p < d; p++) x[i * d + p] = centres[(i % 4) * d + p] + rng.normal();
  return x;
}

/** Naive exact kNN: full sort of the finite rows, lower index first on equal distance. */
function naiveKnn(x: Float32Array, n: number, d: number, k: number, take: (i: number) => boolean): Int32Array {
  const out = new Int32Array(n * k).fill(-1);
  const finite = (i: number) => take(i) && Array.from(x.subarray(i * d, i * d + d)).every(Number.isFinite);
  for (let i = 0; i < n; i++) {
    if (!finite(i)) continue;
    const ds: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      if (j === i || !finite(j)) continue;
      let s = 0;
      for (let p = 0; p < d; p++) s += (x[i * d + p] - x[j * d + p]) ** 2;
      ds.push([s, j]);
    }
    ds.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    ds.slice(0, k).forEach(([, j], t) => { out[i * k + t] = j; });
  }
  return out;
}
