import test from "node:test";
import assert from "node:assert/strict";
import { alignTo, fitProcrustes } from "../../src/reduce/procrustes.ts";
import { displacement } from "../../bench/lib/quality.ts";
import { Rng } from "../../src/reduce/rng.ts";

function transform(src: Float32Array, theta: number, reflect: boolean, scale: number, tx: number, ty: number): Float32Array {
  const c = Math.cos(theta), s = Math.sin(theta);
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length / 2; i++) {
    const x = src[2 * i], y = reflect ? -src[2 * i + 1] : src[2 * i + 1];
    out[2 * i] = scale * (c * x - s * y) + tx;
    out[2 * i + 1] = scale * (s * x + c * y) + ty;
  }
  return out;
}

test("Procrustes recovers a known rotation (+ translation)", () => {
  const rng = new Rng(1);
  const n = 200;
  const a = new Float32Array(2 * n).map(() => rng.normal() * 3);
  const b = transform(a, 1.1, false, 1, 5, -2);
  const t = fitProcrustes(a, b, n);
  assert.equal(t.reflection, false);
  const al = alignTo(a, b, n);
  for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(al[i] - b[i]) < 1e-4);
});

test("Procrustes recovers a reflection, and a uniform scale when asked", () => {
  const rng = new Rng(2);
  const n = 150;
  const a = new Float32Array(2 * n).map(() => rng.normal());
  const b = transform(a, -2.5, true, 2.5, 1, 1);
  const t = fitProcrustes(a, b, n, { scale: true });
  assert.equal(t.reflection, true);
  assert.ok(Math.abs(t.scale - 2.5) < 1e-4);
  const al = alignTo(a, b, n, { scale: true });
  for (let i = 0; i < 2 * n; i++) assert.ok(Math.abs(al[i] - b[i]) < 1e-3);
  // without scale: still the right orientation, RMS error only from the scale mismatch
  const noScale = fitProcrustes(a, b, n);
  assert.equal(noScale.reflection, true);
  assert.equal(noScale.scale, 1);
});

test("Procrustes ignores rows that are NaN in either embedding", () => {
  const rng = new Rng(3);
  const n = 100;
  const a = new Float32Array(2 * n).map(() => rng.normal());
  const b = transform(a, 0.4, false, 1, 0, 0);
  a[0] = NaN; b[11] = Infinity; // row 0 and row 5
  const al = alignTo(a, b, n);
  assert.ok(Number.isNaN(al[0]));
  for (let i = 1; i < n; i++) if (i !== 5) assert.ok(Math.abs(al[2 * i] - b[2 * i]) < 1e-4);
});

test("displacement is 0 for a rigid motion and grows with noise", () => {
  const rng = new Rng(4);
  const n = 300;
  const a = new Float32Array(2 * n).map(() => rng.normal() * 4);
  assert.ok(displacement(a, transform(a, 2, true, 1, 3, 3), n) < 1e-5);
  const noisy = a.map((v) => v + 0.4 * rng.normal());
  const dsp = displacement(a, transform(noisy, 0.3, false, 1, 0, 0), n);
  assert.ok(dsp > 0.05 && dsp < 0.2, `displacement ${dsp}`);
});
