// Decoding frames that pyarrow wrote (tests/fixtures/make_fixtures.py), and corrupt input.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { decodeFrame, FrameDecodeError, halfToFloat } from "../../src/transport/decode.ts";
import { captureNotes } from "../../src/view/capture-notes.ts";

const fixture = (name: string): Uint8Array => {
  const buf = readFileSync(path.join(import.meta.dirname, "..", "fixtures", name));
  // An aligned private copy, as a comm buffer would be.
  const bytes = new Uint8Array(new ArrayBuffer(buf.byteLength));
  bytes.set(buf);
  return bytes;
};

// float32 arithmetic, as numpy did it: fround(fround(k / 7) - 3).
const expected = (i: number, j: number, d: number): number => Math.fround(Math.fround((i * d + j) / 7) - 3);

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
});

test("decodes a float16 frame with no labels and a NaN value", () => {
  const f = decodeFrame(fixture("frame_f16_nolabels.arrows"));
  assert.equal(f.layer, "fc2");
  assert.equal(f.labels, null);
  assert.equal(f.preds, null);
  assert.equal(f.nonFinite, 1);
  assert.ok(Number.isNaN(f.x[1 * 3 + 2]));
  assert.ok(Math.abs(f.x[4 * 3 + 2] - expected(4, 2, 3)) < 1e-2);
});

test("decodes from an unaligned view by copying", () => {
  const bytes = fixture("frame_f32.arrows");
  const padded = new Uint8Array(bytes.byteLength + 1);
  padded.set(bytes, 1);
  const f = decodeFrame(padded.subarray(1));
  assert.equal(f.x[14], expected(4, 2, 3));
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
