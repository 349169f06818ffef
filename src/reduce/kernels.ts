/**
 * The PCA's dense products in WebAssembly SIMD (kernels.wat), with the JavaScript loops of
 * linalg.ts as the fallback. With SIMD (every current browser and Node) a frame's rows are copied
 * once into the kernels' memory, their column moments taken in double precision, centred there, and
 * multiplied four lanes at a time in float32: 6–9× the JavaScript loops at 5,000 × 512 and
 * 50,000 × 256. Without it (no WebAssembly, a page policy that forbids compiling, or
 * `useSimd(false)`) every function here gives the same results from JavaScript, in double precision.
 */
import { columnMoments, gram as gramJs, mulRowsBy as mulRowsByJs, mulXVt, mulYtX } from "./linalg.ts";
import { sqDist } from "./knn.ts";
import { KERNELS_WASM } from "./kernels-wasm.ts";

export type KernelKind = "simd" | "js";

/** A frame's rows minus their mean, for the products with the data matrix. */
export interface CenteredRows {
  readonly kernels: KernelKind;
  /** Column means (d). */
  readonly mean: Float64Array;
  /** Column sums of squares before centring (d). */
  readonly sumSquares: Float64Array;
  /** out (n×l) = (X − 1·meanᵀ) · Vtᵀ, with Vt l×d row-major. */
  project(vt: Float64Array, l: number, out: Float64Array): void;
  /** out (l×d) = Yᵀ · (X − 1·meanᵀ), with Y n×l row-major. */
  backProject(y: Float64Array, l: number, out: Float64Array): void;
}

interface Exports {
  memory: WebAssembly.Memory;
  moments(x: number, n: number, d: number, sum: number, sq: number): void;
  center(x: number, n: number, d: number, mean: number): void;
  xvt(x: number, n: number, d: number, v: number, l: number, out: number): void;
  ytx(x: number, n: number, d: number, y: number, l: number, out: number): void;
  sqdist(x: number, n: number, d: number, v: number, l: number, out: number): void;
}

const PAGE = 65536;
let compiled: Exports | null | undefined;
let enabled = true;
/** The rows now in the kernels' memory, from byte 0; scratch space starts after them. */
let resident: SimdRows | null = null;

/** The kernels, compiled on first use (synchronously: the module is 2 kB); null without SIMD. */
function kernels(): Exports | null {
  if (!enabled) return null;
  if (compiled !== undefined) return compiled;
  compiled = null;
  try {
    const bytes = Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0));
    if (typeof WebAssembly === "object" && WebAssembly.validate(bytes)) {
      compiled = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
    }
  } catch {
    compiled = null; // no WebAssembly or SIMD, or the page forbids compiling: JavaScript it is
  }
  return compiled;
}

/** Turn the SIMD kernels off (false) or back on: tests and benchmarks compare the two. */
export function useSimd(on: boolean): void {
  enabled = on;
}

/** Which kernels run now. */
export function kernelKind(): KernelKind {
  return kernels() ? "simd" : "js";
}

const roundUp = (v: number, to: number): number => Math.ceil(v / to) * to;

/** The kernels' memory as float32, grown to at least `bytes`. */
function memory(k: Exports, bytes: number): Float32Array {
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / PAGE));
  return new Float32Array(k.memory.buffer);
}

/** Where scratch space starts: after the resident rows (float32 index). */
const scratch = (): number => (resident ? resident.rowsBytes / 4 : 0);

/** Copy the n×l f64 matrix y into f (float32) at `at` with rows padded to `stride`, rows n…n4 zero. */
function put(f: Float32Array, at: number, y: Float64Array, n: number, l: number, stride: number, n4: number): void {
  f.fill(0, at, at + n4 * stride);
  if (stride === l) for (let i = 0; i < n * l; i++) f[at + i] = y[i];
  else for (let i = 0; i < n; i++) for (let c = 0; c < l; c++) f[at + i * stride + c] = y[i * l + c];
}

/** The n×d row-major rows of x and their centring, for `project` and `backProject`. */
export function centeredRows(x: Float32Array, n: number, d: number): CenteredRows {
  const k = n > 0 && d > 0 ? kernels() : null;
  if (k) return new SimdRows(k, x, n, d);
  const [sum, sumSquares] = columnMoments(x, n, d);
  const mean = sum.map((v) => v / Math.max(1, n));
  return {
    kernels: "js", mean, sumSquares,
    project: (vt, l, out) => mulXVt(x, n, d, mean, vt, l, out),
    backProject: (y, l, out) => mulYtX(x, n, d, mean, y, l, out),
  };
}

/** Yᵀ·Y (l×l, symmetric) of the n×l row-major y. */
export function gram(y: Float64Array, n: number, l: number): Float64Array {
  const k = kernels();
  if (!k || n === 0 || l === 0) return gramJs(y, n, l);
  const n4 = roundUp(n, 4), l4 = roundUp(l, 4);
  const at = scratch(), out = at + n4 * l4;
  const f = memory(k, (out + l4 * l4) * 4);
  put(f, at, y, n, l, l4, n4);
  f.fill(0, out, out + l4 * l4);
  k.ytx(at * 4, n4, l4, at * 4, l4, out * 4);
  const c = new Float64Array(l * l);
  for (let a = 0; a < l; a++) for (let b = 0; b < l; b++) c[a * l + b] = f[out + a * l4 + b];
  return c;
}

/** out (n×k, float32) = y (n×l) · w[:, :k] (w l×l row-major), column c times sign[c]. */
export function mulRowsBy(y: Float64Array, n: number, l: number, w: Float64Array, k: number, sign: Float64Array): Float32Array {
  const kern = kernels();
  if (!kern || n === 0 || l === 0 || k === 0) return mulRowsByJs(y, n, l, w, k, sign);
  const n4 = roundUp(n, 4), l4 = roundUp(l, 4), k2 = roundUp(k, 2);
  const at = scratch(), wt = at + n4 * l4, out = wt + k2 * l4;
  const f = memory(kern, (out + n4 * k2) * 4);
  put(f, at, y, n, l, l4, n4);
  f.fill(0, wt, wt + k2 * l4);
  for (let c = 0; c < k; c++) for (let j = 0; j < l; j++) f[wt + c * l4 + j] = w[j * l + c] * sign[c];
  kern.xvt(at * 4, n4, l4, wt * 4, k2, out * 4);
  const scores = new Float32Array(n * k);
  if (k === k2) scores.set(f.subarray(out, out + n * k));
  else for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) scores[i * k + c] = f[out + i * k2 + c];
  return scores;
}

/**
 * Squared distances from the rows `queries` of z (m×dims row-major) to every row: out[c·m + j] is
 * |z_queries[c] − z_j|², in float32 with SIMD (each a sum of squared differences), else in double.
 */
export function sqDistances(z: Float32Array, m: number, dims: number, queries: Int32Array): Float64Array {
  const Q = queries.length, out = new Float64Array(Q * m);
  const k = kernels();
  if (!k || m === 0 || dims === 0 || Q === 0) {
    for (let c = 0; c < Q; c++) for (let j = 0; j < m; j++) out[c * m + j] = sqDist(z, queries[c], j, dims);
    return out;
  }
  const m4 = roundUp(m, 4), d4 = roundUp(dims, 4), q2 = roundUp(Q, 2);
  const at = scratch(), qs = at + m4 * d4, res = qs + q2 * d4;
  const f = memory(k, (res + m4 * q2) * 4);
  f.fill(0, at, res);
  if (d4 === dims) f.set(z.subarray(0, m * dims), at);
  else for (let j = 0; j < m; j++) f.set(z.subarray(j * dims, j * dims + dims), at + j * d4);
  for (let c = 0; c < Q; c++) f.set(z.subarray(queries[c] * dims, queries[c] * dims + dims), qs + c * d4);
  k.sqdist(at * 4, m4, d4, qs * 4, q2, res * 4);
  for (let j = 0; j < m; j++) for (let c = 0; c < Q; c++) out[c * m + j] = f[res + j * q2 + c];
  return out;
}

/**
 * Rows resident in the kernels' memory from byte 0: n4×d4 float32 (n4, d4 rounded up to 4, the
 * padding zero), centred. Products use the scratch space after them: basis (l4×d4, also the
 * back-projection's output), scores (n4×l4).
 */
class SimdRows implements CenteredRows {
  readonly kernels = "simd" as const;
  readonly mean: Float64Array;
  readonly sumSquares: Float64Array;
  readonly rowsBytes: number;
  private readonly n4: number;
  private readonly d4: number;

  constructor(private readonly k: Exports, private readonly x: Float32Array, private readonly n: number, private readonly d: number) {
    this.n4 = roundUp(n, 4);
    this.d4 = roundUp(d, 4);
    this.rowsBytes = this.n4 * this.d4 * 4;
    const f = this.copyRows(16 * this.d4);
    // moments in f64, in the scratch space after the rows (a float64 view of the same memory)
    const at = this.rowsBytes / 8, d4 = this.d4;
    const f64 = new Float64Array(f.buffer);
    f64.fill(0, at, at + 2 * d4);
    this.k.moments(0, n, d4, at * 8, (at + d4) * 8);
    this.mean = f64.slice(at, at + d).map((v) => v / n);
    this.sumSquares = f64.slice(at + d4, at + d4 + d);
    this.center(f);
  }

  project(vt: Float64Array, l: number, out: Float64Array): void {
    const { n, d, n4, d4 } = this, l4 = roundUp(l, 4);
    const basis = this.rowsBytes / 4, scores = basis + l4 * d4;
    const f = this.upload((scores + n4 * l4) * 4);
    put(f, basis, vt, l, d, d4, l4);
    this.k.xvt(0, n4, d4, basis * 4, l4, scores * 4);
    for (let i = 0; i < n; i++) for (let c = 0; c < l; c++) out[i * l + c] = f[scores + i * l4 + c];
  }

  backProject(y: Float64Array, l: number, out: Float64Array): void {
    const { n, n4, d, d4 } = this;
    const basis = this.rowsBytes / 4, scores = basis + l * d4;
    const f = this.upload((scores + n4 * l) * 4);
    f.fill(0, basis, basis + l * d4);
    put(f, scores, y, n, l, l, n4);
    this.k.ytx(0, n4, d4, scores * 4, l, basis * 4);
    for (let c = 0; c < l; c++) for (let p = 0; p < d; p++) out[c * d + p] = f[basis + c * d4 + p];
  }

  /** The memory grown to `bytes`, with these rows resident (copied and centred again if displaced). */
  private upload(bytes: number): Float32Array {
    if (resident === this) return memory(this.k, bytes);
    const f = this.copyRows(bytes - this.rowsBytes);
    this.center(f);
    return f;
  }

  /** Copy the rows in (padding zero) with `extra` bytes of scratch after them. */
  private copyRows(extra: number): Float32Array {
    const { x, n, n4, d, d4 } = this;
    resident = null;
    const f = memory(this.k, this.rowsBytes + extra);
    if (d === d4) f.set(x.subarray(0, n * d), 0);
    else for (let i = 0; i < n; i++) { f.set(x.subarray(i * d, i * d + d), i * d4); f.fill(0, i * d4 + d, i * d4 + d4); }
    f.fill(0, n * d4, n4 * d4);
    return f;
  }

  /** Subtract the mean from the n real rows (the padding rows stay zero). */
  private center(f: Float32Array): void {
    const at = this.rowsBytes / 4;
    f.fill(0, at, at + this.d4);
    for (let p = 0; p < this.d; p++) f[at + p] = this.mean[p];
    this.k.center(0, this.n, this.d4, at * 4);
    resident = this;
  }
}
