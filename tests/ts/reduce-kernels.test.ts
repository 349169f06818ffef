import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { centeredRows, gram, kernelKind, mulRowsBy, sqDistances, useSimd } from "../../src/reduce/kernels.ts";
import { pca } from "../../src/reduce/pca.ts";
import { LayerReducer } from "../../src/reduce/pipeline.ts";
import { Rng } from "../../src/reduce/rng.ts";

const random = (len: number, seed: number, scale = 1, offset = 0): Float32Array => {
  const rng = new Rng(seed);
  return new Float32Array(len).map(() => offset + scale * rng.normal());
};
const random64 = (len: number, seed: number): Float64Array => Float64Array.from(random(len, seed));

/** Run f with the SIMD kernels and with the JavaScript fallback. */
function both<T>(f: () => T): { simd: T; js: T } {
  assert.equal(kernelKind(), "simd", "Node has WebAssembly SIMD: the kernels must compile");
  const simd = f();
  useSimd(false);
  try {
    assert.equal(kernelKind(), "js");
    return { simd, js: f() };
  } finally {
    useSimd(true);
  }
}

/** |a − b| ≤ tol · (1 + max |b|) elementwise. */
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + scale), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

test("the committed kernel bytes are what kernels.wat assembles to", () => {
  // exits 1, with the reason on stderr, when src/reduce/kernels-wasm.ts is stale
  execFileSync(process.execPath, ["scripts/build-wasm.mjs", "--check"], { stdio: "pipe" });
});

test("SIMD and JavaScript products agree on shapes that need padding, far from the origin", () => {
  for (const [n, d, l] of [[7, 13, 5], [4, 4, 2], [33, 130, 11], [1, 3, 1]]) {
    const x = random(n * d, n + d, 2, 1000); // mean 1000, spread 2: centring must not lose the spread
    const vt = random64(l * d, 7), y = random64(n * l, 8);
    const run = both(() => {
      const rows = centeredRows(x, n, d);
      const proj = new Float64Array(n * l), back = new Float64Array(l * d);
      rows.project(vt, l, proj);
      rows.backProject(y, l, back);
      return { kind: rows.kernels, mean: rows.mean, sq: rows.sumSquares, proj, back };
    });
    assert.equal(run.simd.kind, "simd");
    assert.equal(run.js.kind, "js");
    close(run.simd.mean, run.js.mean, 1e-12, `mean ${n}×${d}`);
    close(run.simd.sq, run.js.sq, 1e-12, `sum of squares ${n}×${d}`);
    close(run.simd.proj, run.js.proj, 1e-4, `projection ${n}×${d}×${l}`);
    close(run.simd.back, run.js.back, 1e-4, `back-projection ${n}×${d}×${l}`);
  }
});

test("rows displaced from the kernels' memory by other rows are copied back before use", () => {
  const [n, d, l] = [9, 6, 3];
  const a = random(n * d, 1), b = random(n * d, 2, 3, -4), vt = random64(l * d, 3);
  const expect = both(() => {
    const out = new Float64Array(n * l);
    centeredRows(a, n, d).project(vt, l, out);
    return out;
  }).js;
  const rowsA = centeredRows(a, n, d);
  centeredRows(b, n, d).project(vt, l, new Float64Array(n * l)); // b now fills the memory
  gram(random64(50 * 7, 4), 50, 7); // and scratch products write after it
  const out = new Float64Array(n * l);
  rowsA.project(vt, l, out);
  close(out, expect, 1e-5, "a's projection after b");
});

test("SIMD and JavaScript agree on Gram matrices, rotated scores and squared distances", () => {
  const [n, l, k] = [23, 10, 3];
  const y = random64(n * l, 5), w = random64(l * l, 6), sign = Float64Array.from({ length: l }, (_, c) => (c % 2 ? -1 : 1));
  const g = both(() => gram(y, n, l));
  close(g.simd, g.js, 1e-5, "gram");
  const s = both(() => mulRowsBy(y, n, l, w, k, sign));
  close(s.simd, s.js, 1e-5, "scores");
  const z = random(n * 13, 9, 1, 50);
  const queries = Int32Array.from([0, 4, 22]);
  const dist = both(() => sqDistances(z, n, 13, queries));
  close(dist.simd, dist.js, 1e-5, "squared distances");
  for (let c = 0; c < queries.length; c++) assert.equal(dist.simd[c * n + queries[c]], 0, "a point is at distance 0 from itself");
});

test("PCA and a reduced frame are the same with either kernels", () => {
  const [n, d] = [300, 64];
  const x = random(n * d, 11, 1, 3);
  const p = both(() => pca(x, n, d, 8, { seed: 2 }));
  assert.equal(p.simd.kernels, "simd");
  close(p.simd.variances, p.js.variances, 1e-4, "variances");
  close(p.simd.scores, p.js.scores, 1e-3, "scores");
  const r = both(() => new LayerReducer({ method: "pca", seed: 1 }).reduce(x, n, d));
  assert.equal(r.simd.kernels, "simd");
  assert.equal(r.js.kernels, "js");
  close(r.simd.xy, r.js.xy, 1e-3, "PCA layout");
});
