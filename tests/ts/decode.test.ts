// Decoding frames that the current Python encoder wrote, and corrupt input. The frames and what they
// should decode to are written at test time by tests/fixtures/make_fixtures.py (see support/fixtures.ts).
import test, { after, before } from "node:test";
import assert from "node:assert/strict";
import { decodeFrame, FrameDecodeError, halfToFloat } from "../../src/transport/decode.ts";
import type { Frame } from "../../src/transport/frame.ts";
import { captureNotes } from "../../src/view/capture-notes.ts";
import { GROUP_METRICS, GROUP_SEPARATOR } from "../../src/registry.ts";
import { makeFixtures, type ExpectedFrame, type Fixtures } from "./support/fixtures.ts";

let fixtures: Fixtures | undefined;
before(() => {
  fixtures = makeFixtures();
});
after(() => fixtures?.remove());

const made = (): Fixtures => {
  if (fixtures === undefined) throw new Error("the fixtures were not made (see the before hook's error)");
  return fixtures;
};
const fixture = (name: string): Uint8Array => made().read(name);
const expectedFor = (name: string): ExpectedFrame => {
  const e = made().expected.frames[name];
  if (e === undefined) throw new Error(`make_fixtures.py wrote no expectations for ${name}`);
  return e;
};

// float32 arithmetic, as numpy did it: fround(fround(k / 7) - 3).
const expected = (i: number, j: number, d: number): number => Math.fround(Math.fround((i * d + j) / 7) - 3);

/** JSON has no NaN: make_fixtures.py writes it as null. */
const same = (actual: number, want: number | null, what: string): void => {
  if (want === null) assert.ok(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`);
  else assert.equal(actual, want, what);
};

const sameNumbers = (actual: Record<string, number>, want: Record<string, number | null>, what: string): void => {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(want).sort(), `${what} keys`);
  for (const [k, v] of Object.entries(want)) same(actual[k], v, `${what}.${k}`);
};

const ints = (a: Int32Array | null): number[] | null => (a === null ? null : [...a]);

/** Every field of `f` against what the Python run says it holds. */
function checkFrame(f: Frame, e: ExpectedFrame, name: string): void {
  assert.equal(f.seq, e.seq, `${name} seq`);
  assert.equal(f.step, e.step, `${name} step`);
  assert.equal(f.layer, e.layer, `${name} layer`);
  assert.equal(f.n, e.n, `${name} n`);
  assert.equal(f.d, e.d, `${name} d`);
  assert.deepEqual([...f.ids], e.ids, `${name} ids`);
  assert.deepEqual(ints(f.labels), e.labels, `${name} labels`);
  assert.deepEqual(ints(f.preds), e.preds, `${name} preds`);
  assert.deepEqual(ints(f.groups), e.groups, `${name} groups`);
  assert.deepEqual(f.groupNames, e.group_names, `${name} group names`);
  assert.deepEqual(f.tasks, e.tasks, `${name} tasks`);
  sameNumbers(f.scalars, e.scalars, `${name} scalars`);
  sameNumbers(f.metrics, e.metrics, `${name} metrics`);
  assert.equal(f.nonFinite, e.nonfinite, `${name} nonFinite`);
  assert.equal(f.pool, e.pool, `${name} pool`);
  assert.deepEqual(f.shape, e.shape, `${name} shape`);
  assert.equal(f.projectedFrom, e.projected_from, `${name} projectedFrom`);
  assert.equal(f.every, e.every, `${name} every`);
  assert.equal(f.x.length, e.n * e.d, `${name} x length`);
  for (let k = 0; k < e.x.length; k++) same(f.x[k], e.x[k], `${name} x[${k}]`);
}

test("every frame the Python encoder wrote decodes to exactly what it was given", () => {
  const { frames } = made().expected;
  const names = Object.keys(frames).sort();
  assert.deepEqual(names, [
    "frame_f16_nolabels.arrows",
    "frame_f32.arrows",
    "frame_groups.arrows",
    "frame_pooled.arrows",
  ]);
  for (const name of names) checkFrame(decodeFrame(fixture(name)), frames[name], name);
});

test("the fixtures' float32 activations follow the documented formula exactly", () => {
  for (const [name, e] of Object.entries(made().expected.frames)) {
    if (e.dtype !== "float32") continue;
    for (let i = 0; i < e.n; i++) {
      for (let j = 0; j < e.d; j++) assert.equal(e.x[i * e.d + j], expected(i, j, e.d), `${name} x[${i}, ${j}]`);
    }
  }
});

test("decodes a float32 frame written by pyarrow, without copying the activations", () => {
  const bytes = fixture("frame_f32.arrows");
  const f = decodeFrame(bytes);
  assert.equal(f.seq, 7);
  assert.equal(f.step, 40);
  assert.equal(f.layer, "fc1");
  assert.equal(f.n, 5);
  assert.equal(f.d, 3);
  assert.deepEqual([...f.ids], [10, 11, 12, 13, 14]);
  assert.deepEqual([...(f.labels ?? [])], [0, 1, -1, 3, 4]);
  assert.deepEqual([...(f.preds ?? [])], [0, 2, 2, -1, 4]);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) assert.equal(f.x[i * 3 + j], expected(i, j, 3));
  assert.equal(f.x.buffer, bytes.buffer, "x must be a view on the message bytes");
  assert.deepEqual(f.scalars, { loss: 0.5, lr: 0.1 });
  assert.equal(f.metrics.fisher, 1.25);
  assert.ok(Number.isNaN(f.metrics.undefined));
  assert.equal(f.nonFinite, 0);
  assert.equal(f.groups, null, "a frame without groups has no group column values");
  assert.deepEqual(f.groupNames, []);
  assert.deepEqual(f.tasks, []);
});

test("decodes a float16 frame with no labels and a NaN value", () => {
  const bytes = fixture("frame_f16_nolabels.arrows");
  const f = decodeFrame(bytes);
  const e = expectedFor("frame_f16_nolabels.arrows");
  assert.equal(e.dtype, "float16");
  assert.equal(f.layer, "fc2");
  assert.equal(f.labels, null);
  assert.equal(f.preds, null);
  assert.equal(f.groups, null);
  assert.equal(f.nonFinite, 1);
  assert.ok(Number.isNaN(f.x[1 * 3 + 2]));
  assert.ok(Math.abs(f.x[4 * 3 + 2] - expected(4, 2, 3)) < 1e-2);
  // Widened exactly: every value is numpy's float16 rounding of the formula, as a float32.
  for (let k = 0; k < e.x.length; k++) same(f.x[k], e.x[k], `x[${k}]`);
  assert.notEqual(f.x.buffer, bytes.buffer, "float16 values are widened into a new array");
  assert.ok(f.x.some((v, k) => v !== expected(Math.floor(k / 3), k % 3, 3) && !Number.isNaN(v)), "values were rounded to float16");
});

test("decodes from an unaligned view by copying", () => {
  const bytes = fixture("frame_f32.arrows");
  const padded = new Uint8Array(bytes.byteLength + 1);
  padded.set(bytes, 1);
  const f = decodeFrame(padded.subarray(1));
  assert.equal(f.x[14], expected(4, 2, 3));
  const groupBytes = fixture("frame_groups.arrows");
  const paddedGroups = new Uint8Array(groupBytes.byteLength + 1);
  paddedGroups.set(groupBytes, 1);
  checkFrame(decodeFrame(paddedGroups.subarray(1)), expectedFor("frame_groups.arrows"), "unaligned frame_groups");
});

test("truncated, corrupt and foreign bytes raise a FrameDecodeError that says what is wrong", () => {
  const bytes = fixture("frame_f32.arrows");
  assert.throws(() => decodeFrame(bytes.subarray(0, 4)), FrameDecodeError);
  assert.throws(() => decodeFrame(bytes.subarray(0, bytes.byteLength - 60)), FrameDecodeError);
  const garbage = bytes.slice();
  for (let i = 8; i < 200; i++) garbage[i] = (i * 31) & 0xff;
  assert.throws(() => decodeFrame(garbage), FrameDecodeError);
  assert.throws(() => decodeFrame(new Uint8Array(64).fill(7)), FrameDecodeError);
});

test("half-precision conversion", () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.equal(halfToFloat(0x0001), 2 ** -24);
});

test("decodes how a frame was captured: pooling, original shape, projection, cadence", () => {
  const f = decodeFrame(fixture("frame_pooled.arrows"));
  assert.equal(f.pool, "mean");
  assert.deepEqual(f.shape, [5, 2048, 4, 4]);
  assert.equal(f.projectedFrom, 2048);
  assert.equal(f.every, 20);
  assert.deepEqual(captureNotes(f), ["every 20 steps", "mean of 2048×4×4", "random projection 2048→3"]);
  const plain = decodeFrame(fixture("frame_f32.arrows"));
  assert.equal(plain.pool, "none");
  assert.deepEqual(plain.shape, [5, 3]);
  assert.equal(plain.projectedFrom, null);
  assert.equal(plain.every, null);
  assert.deepEqual(captureNotes(plain), []);
});

test("decodes groups (with an ungrouped sample), group names and task boundaries", () => {
  const f = decodeFrame(fixture("frame_groups.arrows"));
  assert.equal(f.n, 6);
  assert.equal(f.d, 4);
  assert.deepEqual(ints(f.groups), [0, 1, -1, 2, 1, 0]);
  assert.deepEqual(f.groupNames, ["0-4", "5-9", "10-14"]);
  assert.deepEqual(f.tasks, [
    { step: 0, name: "0-4" },
    { step: 100, name: "5-9" },
    { step: 200, name: "10-14" },
  ]);
  assert.deepEqual(ints(f.labels), [0, 5, -1, 12, 7, 3]);
  assert.deepEqual(ints(f.preds), [0, 6, 14, 12, -1, 3]);
  for (const g of f.groups ?? []) assert.ok(g >= -1 && g < f.groupNames.length, `group code ${g} names a group`);
  assert.deepEqual(captureNotes(f), []);
});

test("decodes per-group metrics under metric@group, NaN where undefined", () => {
  const f = decodeFrame(fixture("frame_groups.arrows"));
  const e = expectedFor("frame_groups.arrows");
  assert.equal(GROUP_SEPARATOR, "@");
  assert.equal(f.metrics["accuracy@0-4"], e.metrics["accuracy@0-4"]);
  assert.equal(typeof f.metrics["accuracy@0-4"], "number");
  assert.ok(Number.isNaN(f.metrics["cka_task_end@10-14"]), "a NaN per-group metric decodes as NaN");
  assert.equal(f.metrics.fisher, 2.5);
  const perGroup = Object.keys(f.metrics).filter((k) => k.includes(GROUP_SEPARATOR));
  assert.equal(perGroup.length, GROUP_METRICS.length * f.groupNames.length);
  for (const key of perGroup) {
    const at = key.indexOf(GROUP_SEPARATOR);
    const metric = key.slice(0, at);
    const group = key.slice(at + GROUP_SEPARATOR.length);
    assert.ok(GROUP_METRICS.includes(metric), `${key}: ${metric} is a registered per-group metric`);
    assert.ok(f.groupNames.includes(group), `${key}: ${group} is one of the frame's groups`);
    assert.ok(key in e.metrics, `${key} was written by Python`);
    same(f.metrics[key], e.metrics[key], key);
  }
});
