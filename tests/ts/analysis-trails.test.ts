import test from "node:test";
import assert from "node:assert/strict";
import { trailTrace, trails, type Trail } from "../../src/analysis/trails.ts";

const f32 = (v: number[]) => new Float32Array(v);
const i32 = (v: number[]) => new Int32Array(v);
/** NaN-aware array comparison (deepEqual treats NaN as equal to NaN). */
const same = (a: ArrayLike<number>, b: number[], msg = "") => assert.deepEqual(Array.from(a), b, msg);

// three frames; rows are permuted between frames, id 7 is missing from frame 1, id 5 has no position in frame 2
const steps = [
  { ids: i32([5, 7, 9]), xy: f32([0, 0, 1, 1, 2, 2]) },
  { ids: i32([9, 5]), xy: f32([2.5, 2, 0.5, 0]) },
  { ids: i32([7, 9, 5]), xy: f32([1, 3, 3, 2, NaN, 1]) },
];

test("positions follow each id across frames; a missing id or a NaN position gives NaN at that frame", () => {
  const t = trails(steps, [7, 5, 9]);
  assert.deepEqual(t.map((s) => s.id), [7, 5, 9]);
  same(t[0].xs, [1, NaN, 1]);
  same(t[0].ys, [1, NaN, 3]);
  same(t[1].xs, [0, 0.5, NaN]);
  same(t[1].ys, [0, 0, NaN], "both coordinates are dropped when one is NaN");
  same(t[2].xs, [2, 2.5, 3]);
  same(t[2].ys, [2, 2, 2]);
});

test("unknown ids are all-NaN, repeated ids get their own copy, large and negative ids work (Map path)", () => {
  const t = trails(steps, i32([42, 9, 9]));
  assert.ok(t[0].xs.every(Number.isNaN) && t[0].ys.every(Number.isNaN));
  same(t[1].xs, [2, 2.5, 3]);
  same(t[2].xs, [2, 2.5, 3]);
  assert.notEqual(t[1].xs, t[2].xs, "copies, not one shared array");
  const big = [
    { ids: i32([-3, 2_000_000_000]), xy: f32([1, 2, 3, 4]) },
    { ids: i32([2_000_000_000, 1, -3]), xy: f32([5, 6, 0, 0, 7, 8]) },
  ];
  const b = trails(big, [2_000_000_000, -3]);
  same(b[0].xs, [3, 5]);
  same(b[0].ys, [4, 6]);
  same(b[1].xs, [1, 7]);
  same(b[1].ys, [2, 8]);
});

test("the first row of a duplicated id in a frame counts; empty inputs; short xy throws", () => {
  const t = trails([{ ids: i32([4, 4, 6]), xy: f32([1, 1, 9, 9, 2, 2]) }], [4, 6]);
  same(t[0].xs, [1]);
  same(t[1].xs, [2]);
  assert.equal(trails(steps, []).length, 0);
  const none = trails([], [1, 2]);
  assert.equal(none.length, 2);
  assert.equal(none[0].xs.length, 0);
  assert.throws(() => trails([{ ids: i32([1, 2]), xy: f32([0, 0]) }], [1]), /expected 2n = 4/);
});

test("trailTrace joins the trails with one NaN separator between consecutive trails", () => {
  const t: Trail[] = [
    { id: 1, xs: new Float64Array([0, 1]), ys: new Float64Array([0, 2]) },
    { id: 2, xs: new Float64Array([NaN, 5, 6]), ys: new Float64Array([NaN, 7, 8]) },
    { id: 3, xs: new Float64Array([9]), ys: new Float64Array([10]) },
  ];
  const tr = trailTrace(t);
  same(tr.x, [0, 1, NaN, NaN, 5, 6, NaN, 9]);
  same(tr.y, [0, 2, NaN, NaN, 7, 8, NaN, 10]);
  assert.equal(trailTrace([]).x.length, 0);
  same(trailTrace([t[2]]).x, [9]);
  const all = trailTrace(trails(steps, [7, 5, 9]));
  same(all.x, [1, NaN, 1, NaN, 0, 0.5, NaN, NaN, 2, 2.5, 3]);
});
