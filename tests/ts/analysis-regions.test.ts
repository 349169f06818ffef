import test from "node:test";
import assert from "node:assert/strict";
import { decisionRegions, type Regions } from "../../src/analysis/regions.ts";

/** The class of the cell containing (x, y); −1 outside the grid or for a non-finite position. */
function regionAt(r: Regions, x: number, y: number): number {
  const col = Math.floor((x - r.x0) / r.dx), row = Math.floor((y - r.y0) / r.dy);
  if (!(col >= 0 && col < r.grid && row >= 0 && row < r.grid)) return -1;
  return r.classes[row * r.grid + col];
}
import { Rng } from "../../src/reduce/rng.ts";

/** Two Gaussian blobs: rows < n/2 around (0, 0) predicted 0, the rest around (10, 10) predicted 1. */
function twoBlobs(n: number, seed = 1): { xy: Float32Array; preds: Int32Array } {
  const rng = new Rng(seed);
  const xy = new Float32Array(2 * n), preds = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i < n / 2 ? 0 : 1;
    xy[2 * i] = 10 * c + 0.5 * rng.normal();
    xy[2 * i + 1] = 10 * c + 0.5 * rng.normal();
    preds[i] = c;
  }
  return { xy, preds };
}

/** Brute-force reference: every voter's distance to every cell centre, full sort. */
function reference(r: Regions, xy: Float32Array, preds: Int32Array, n: number, k: number, maxCells: number): { cls: number[]; conf: number[] } {
  const cls: number[] = [], conf: number[] = [];
  const cellW = Math.max(r.dx, r.dy), eps = 1e-6 * cellW;
  for (let row = 0; row < r.grid; row++) {
    for (let col = 0; col < r.grid; col++) {
      const qx = r.x0 + (col + 0.5) * r.dx, qy = r.y0 + (row + 0.5) * r.dy;
      const ds: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(xy[2 * i]) || !Number.isFinite(xy[2 * i + 1]) || preds[i] < 0) continue;
        ds.push([Math.hypot(xy[2 * i] - qx, xy[2 * i + 1] - qy), preds[i]]);
      }
      ds.sort((a, b) => a[0] - b[0]);
      if (ds.length === 0 || ds[0][0] > maxCells * cellW) { cls.push(-1); conf.push(0); continue; }
      const w = new Map<number, number>();
      let total = 0;
      for (const [d, c] of ds.slice(0, k)) { w.set(c, (w.get(c) ?? 0) + 1 / (d + eps)); total += 1 / (d + eps); }
      let win = -1, winW = -1;
      for (const [c, v] of [...w].sort((a, b) => a[0] - b[0])) if (v > winW) { win = c; winW = v; }
      cls.push(win); conf.push(winW / total);
    }
  }
  return { cls, conf };
}

test("two separated clusters: cells at each cluster get its class, a far corner gets −1", () => {
  const n = 400;
  const { xy, preds } = twoBlobs(n);
  const r = decisionRegions(xy, preds, n);
  assert.equal(r.grid, 64);
  assert.equal(r.classes.length, 64 * 64);
  assert.equal(regionAt(r, 0, 0), 0);
  assert.equal(regionAt(r, 10, 10), 1);
  // (10, 0) and (0, 10) are ~10 units from both blobs, far more than 6 cells (~1.2 units)
  assert.equal(regionAt(r, 10, 0), -1);
  assert.equal(regionAt(r, 0, 10), -1);
  const cell = (x: number, y: number) => Math.floor((y - r.y0) / r.dy) * r.grid + Math.floor((x - r.x0) / r.dx);
  assert.ok(r.confidence[cell(0, 0)] > 0.99 && r.confidence[cell(10, 10)] > 0.99);
  assert.equal(r.confidence[cell(10, 0)], 0);
  // the grid covers the points plus 5% padding
  assert.ok(r.x0 < -1 && r.x0 + r.grid * r.dx > 11 && r.y0 < -1 && r.y0 + r.grid * r.dy > 11);
  // without a distance limit every cell has a class, split along the diagonal
  const all = decisionRegions(xy, preds, n, { maxDistance: Infinity });
  assert.ok(all.classes.every((c) => c === 0 || c === 1));
  assert.equal(regionAt(all, 2, -1), 0);
  assert.equal(regionAt(all, 8, 11), 1);
});

test("matches a brute-force kNN vote cell by cell (NaN positions and −1 predictions skipped)", () => {
  const rng = new Rng(3);
  const n = 700;
  const xy = new Float32Array(2 * n), preds = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    xy[2 * i] = 4 * rng.normal() + (i % 3) * 3;
    xy[2 * i + 1] = 2 * rng.normal();
    preds[i] = i % 11 === 0 ? -1 : (i % 3) + (rng.next() < 0.2 ? 1 : 0);
    if (i % 37 === 0) xy[2 * i + (i % 2)] = NaN;
  }
  for (const opts of [{ grid: 24, k: 5, maxDistance: 2 }, { grid: 40, k: 1, maxDistance: Infinity }, { grid: 17, k: 9, maxDistance: 6 }]) {
    const r = decisionRegions(xy, preds, n, opts);
    const ref = reference(r, xy, preds, n, opts.k, opts.maxDistance);
    assert.deepEqual(Array.from(r.classes), ref.cls, JSON.stringify(opts));
    for (let c = 0; c < ref.conf.length; c++) assert.ok(Math.abs(r.confidence[c] - ref.conf[c]) < 1e-5, `cell ${c}`);
    // the limit leaves empty cells at grid 24 (68 of them), none at the looser settings
    assert.equal(ref.cls.includes(-1), opts.maxDistance === 2, JSON.stringify(opts));
  }
});

test("matches the brute-force vote on clustered points with wide empty space (long ring searches)", () => {
  const n = 600;
  const { xy, preds } = twoBlobs(n, 5);
  for (let i = 0; i < n; i += 3) preds[i] = 2; // a third class mixed into both blobs
  for (const opts of [{ grid: 30, k: 7, maxDistance: Infinity }, { grid: 30, k: 3, maxDistance: 4 }]) {
    const r = decisionRegions(xy, preds, n, opts);
    const ref = reference(r, xy, preds, n, opts.k, opts.maxDistance);
    assert.deepEqual(Array.from(r.classes), ref.cls, JSON.stringify(opts));
  }
});

test("degenerate inputs: n = 0, all NaN, all predictions −1, one class, identical points", () => {
  const empty = decisionRegions(new Float32Array(0), new Int32Array(0), 0, { grid: 8 });
  assert.equal(empty.classes.length, 64);
  assert.ok(empty.classes.every((c) => c === -1) && Number.isFinite(empty.dx) && empty.dx > 0);

  const nan = decisionRegions(new Float32Array(20).fill(NaN), new Int32Array(10), 10, { grid: 8 });
  assert.ok(nan.classes.every((c) => c === -1) && Number.isFinite(nan.x0) && nan.dy > 0);

  const { xy } = twoBlobs(100);
  const none = decisionRegions(xy, new Int32Array(100).fill(-1), 100, { grid: 16 });
  assert.ok(none.classes.every((c) => c === -1));
  assert.ok(none.x0 < -1 && none.dx > 0, "the extent still follows the points");

  const one = decisionRegions(xy, new Int32Array(100).fill(4), 100, { grid: 16, maxDistance: Infinity });
  assert.ok(one.classes.every((c) => c === 4) && one.confidence.every((v) => Math.abs(v - 1) < 1e-6));

  const same = new Float32Array(2 * 30);
  for (let i = 0; i < 30; i++) { same[2 * i] = 3; same[2 * i + 1] = -2; }
  const z = decisionRegions(same, new Int32Array(30).fill(2), 30, { grid: 16 });
  assert.ok(z.dx > 0 && z.dy > 0 && Number.isFinite(z.x0));
  assert.equal(regionAt(z, 3, -2), 2);
  assert.equal(z.classes[0], -1, "a corner cell is 8 cells away, beyond maxDistance");
});

test("an exact tie of weighted votes goes to the lower class, with confidence 1/2", () => {
  // one cell centred at (0.5, 0.5), equidistant from both points; class 3 is found first
  const r = decisionRegions(new Float32Array([0, 0, 1, 1]), new Int32Array([3, 1]), 2, { grid: 1, pad: 0, k: 2, maxDistance: Infinity });
  assert.equal(r.classes[0], 1);
  assert.ok(Math.abs(r.confidence[0] - 0.5) < 1e-6);
});

test("regionAt: −1 outside the grid and for non-finite positions; row 0 is the bottom row", () => {
  const xy = new Float32Array([0, 0, 1, 1]);
  const r = decisionRegions(xy, new Int32Array([0, 1]), 2, { grid: 2, pad: 0, maxDistance: Infinity, k: 1 });
  assert.equal(r.x0, 0);
  assert.equal(r.y0, 0);
  assert.equal(r.classes[0], 0, "bottom-left cell holds (0, 0)");
  assert.equal(r.classes[3], 1, "top-right cell holds (1, 1)");
  assert.equal(regionAt(r, 0.1, 0.1), 0);
  assert.equal(regionAt(r, 0.9, 0.9), 1);
  assert.equal(regionAt(r, -0.1, 0.5), -1);
  assert.equal(regionAt(r, 0.5, 1.5), -1);
  assert.equal(regionAt(r, NaN, 0.5), -1);
});
