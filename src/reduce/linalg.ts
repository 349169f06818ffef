/** Dense helpers over typed arrays used by PCA: blocked products with implicit centering, Gram–Schmidt, Jacobi. */
import { Rng } from "./rng.ts";

/**
 * out (n×l) = (X − 1·meanᵀ) · Vtᵀ where X is n×d row-major float32 and Vt is l×d row-major.
 * Rows of X are processed four at a time so each basis value is loaded once per four rows.
 */
export function mulXVt(
  x: Float32Array, n: number, d: number, mean: Float64Array,
  vt: Float64Array, l: number, out: Float64Array,
): void {
  const shift = new Float64Array(l);
  for (let c = 0; c < l; c++) {
    let s = 0;
    const vo = c * d;
    for (let p = 0; p < d; p++) s += mean[p] * vt[vo + p];
    shift[c] = s;
  }
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const r0 = i * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d;
    let c = 0;
    // 4 rows × 2 basis vectors per pass: 6 loads for 8 multiply-adds
    for (; c + 1 < l; c += 2) {
      const vo = c * d, wo = vo + d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
      for (let p = 0; p < d; p++) {
        const v = vt[vo + p], w = vt[wo + p];
        const a0 = x[r0 + p], a1 = x[r1 + p], a2 = x[r2 + p], a3 = x[r3 + p];
        s0 += a0 * v; s1 += a1 * v; s2 += a2 * v; s3 += a3 * v;
        t0 += a0 * w; t1 += a1 * w; t2 += a2 * w; t3 += a3 * w;
      }
      const sh = shift[c], th = shift[c + 1];
      out[i * l + c] = s0 - sh; out[(i + 1) * l + c] = s1 - sh;
      out[(i + 2) * l + c] = s2 - sh; out[(i + 3) * l + c] = s3 - sh;
      out[i * l + c + 1] = t0 - th; out[(i + 1) * l + c + 1] = t1 - th;
      out[(i + 2) * l + c + 1] = t2 - th; out[(i + 3) * l + c + 1] = t3 - th;
    }
    for (; c < l; c++) {
      const vo = c * d;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let p = 0; p < d; p++) {
        const v = vt[vo + p];
        s0 += x[r0 + p] * v; s1 += x[r1 + p] * v; s2 += x[r2 + p] * v; s3 += x[r3 + p] * v;
      }
      const sh = shift[c];
      out[i * l + c] = s0 - sh; out[(i + 1) * l + c] = s1 - sh;
      out[(i + 2) * l + c] = s2 - sh; out[(i + 3) * l + c] = s3 - sh;
    }
  }
  for (; i < n; i++) {
    const r0 = i * d;
    for (let c = 0; c < l; c++) {
      const vo = c * d;
      let s0 = 0;
      for (let p = 0; p < d; p++) s0 += x[r0 + p] * vt[vo + p];
      out[i * l + c] = s0 - shift[c];
    }
  }
}

/** out (l×d) = Yᵀ · (X − 1·meanᵀ), i.e. the transpose of Xcᵀ·Y, with Y n×l. */
export function mulYtX(
  x: Float32Array, n: number, d: number, mean: Float64Array,
  y: Float64Array, l: number, out: Float64Array,
): void {
  // accumulate Z (d×l) then transpose: Z's rows are short and stay in cache
  const z = new Float64Array(d * l);
  const colSum = new Float64Array(l);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const r0 = i * d, r1 = r0 + d, r2 = r1 + d, r3 = r2 + d;
    const y0 = i * l, y1 = y0 + l, y2 = y1 + l, y3 = y2 + l;
    for (let c = 0; c < l; c++) colSum[c] += y[y0 + c] + y[y1 + c] + y[y2 + c] + y[y3 + c];
    let p = 0;
    for (; p + 1 < d; p += 2) {
      const x0 = x[r0 + p], x1 = x[r1 + p], x2 = x[r2 + p], x3 = x[r3 + p];
      const u0 = x[r0 + p + 1], u1 = x[r1 + p + 1], u2 = x[r2 + p + 1], u3 = x[r3 + p + 1];
      const zo = p * l, zq = zo + l;
      for (let c = 0; c < l; c++) {
        const a = y[y0 + c], b = y[y1 + c], e = y[y2 + c], f = y[y3 + c];
        z[zo + c] += x0 * a + x1 * b + x2 * e + x3 * f;
        z[zq + c] += u0 * a + u1 * b + u2 * e + u3 * f;
      }
    }
    for (; p < d; p++) {
      const x0 = x[r0 + p], x1 = x[r1 + p], x2 = x[r2 + p], x3 = x[r3 + p];
      const zo = p * l;
      for (let c = 0; c < l; c++) {
        z[zo + c] += x0 * y[y0 + c] + x1 * y[y1 + c] + x2 * y[y2 + c] + x3 * y[y3 + c];
      }
    }
  }
  for (; i < n; i++) {
    const r0 = i * d, y0 = i * l;
    for (let c = 0; c < l; c++) colSum[c] += y[y0 + c];
    for (let p = 0; p < d; p++) {
      const x0 = x[r0 + p];
      const zo = p * l;
      for (let c = 0; c < l; c++) z[zo + c] += x0 * y[y0 + c];
    }
  }
  for (let c = 0; c < l; c++) {
    const oo = c * d;
    const cs = colSum[c];
    for (let p = 0; p < d; p++) out[oo + p] = z[p * l + c] - mean[p] * cs;
  }
}

/** Column sums and sums of squares of the n×d rows in one pass (double precision). */
export function columnMoments(x: Float32Array, n: number, d: number): [Float64Array, Float64Array] {
  const sum = new Float64Array(d), sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let p = 0; p < d; p++) {
      const v = x[o + p];
      sum[p] += v;
      sq[p] += v * v;
    }
  }
  return [sum, sq];
}

/** Yᵀ·Y (l×l, symmetric) of the n×l row-major y. */
export function gram(y: Float64Array, n: number, l: number): Float64Array {
  const c = new Float64Array(l * l);
  let i = 0;
  // two rows per pass: each entry of c is loaded and stored once per two rows
  for (; i + 1 < n; i += 2) {
    const yo = i * l, zo = yo + l;
    for (let a = 0; a < l; a++) {
      const ya = y[yo + a], za = y[zo + a];
      const co = a * l;
      for (let b = a; b < l; b++) c[co + b] += ya * y[yo + b] + za * y[zo + b];
    }
  }
  for (; i < n; i++) {
    const yo = i * l;
    for (let a = 0; a < l; a++) {
      const ya = y[yo + a], co = a * l;
      for (let b = a; b < l; b++) c[co + b] += ya * y[yo + b];
    }
  }
  for (let a = 0; a < l; a++) for (let b = 0; b < a; b++) c[a * l + b] = c[b * l + a];
  return c;
}

/** out (n×k, float32) = y (n×l) · w[:, :k] (w l×l row-major), column c times sign[c]. */
export function mulRowsBy(y: Float64Array, n: number, l: number, w: Float64Array, k: number, sign: Float64Array): Float32Array {
  // wt (k×l): the first k columns of w, signed, row-major so the inner loop reads both arrays in order
  const wt = new Float64Array(k * l);
  for (let c = 0; c < k; c++) for (let j = 0; j < l; j++) wt[c * l + j] = w[j * l + c] * sign[c];
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const yo = i * l, oo = i * k;
    for (let c = 0; c < k; c++) {
      const wo = c * l;
      let s = 0;
      for (let j = 0; j < l; j++) s += y[yo + j] * wt[wo + j];
      out[oo + c] = s;
    }
  }
  return out;
}

/**
 * Orthonormalise the l rows (length d) of m in place (modified Gram–Schmidt, two passes).
 * A row that vanishes (rank deficiency, zero variance) is replaced by a random direction.
 */
export function orthonormalizeRows(m: Float64Array, l: number, d: number, rng: Rng): void {
  for (let r = 0; r < l; r++) {
    const ro = r * d;
    let before = 0;
    for (let p = 0; p < d; p++) before += m[ro + p] * m[ro + p];
    for (let attempt = 0; attempt < 4; attempt++) {
      for (let pass = 0; pass < 2; pass++) {
        for (let q = 0; q < r; q++) {
          const qo = q * d;
          let dot = 0;
          for (let p = 0; p < d; p++) dot += m[ro + p] * m[qo + p];
          for (let p = 0; p < d; p++) m[ro + p] -= dot * m[qo + p];
        }
      }
      let nrm = 0;
      for (let p = 0; p < d; p++) nrm += m[ro + p] * m[ro + p];
      if (nrm > 1e-20 * Math.max(before, 1e-300) && nrm > 1e-280) {
        const inv = 1 / Math.sqrt(nrm);
        for (let p = 0; p < d; p++) m[ro + p] *= inv;
        break;
      }
      for (let p = 0; p < d; p++) m[ro + p] = rng.normal();
      before = d;
    }
  }
}

/**
 * Eigen-decomposition of a symmetric l×l matrix (cyclic Jacobi). Returns eigenvalues sorted
 * descending and eigenvectors as columns of w (l×l row-major: w[j*l + c] is component j of vector c).
 */
export function symEig(a: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(l * l);
  for (let i = 0; i < l; i++) v[i * l + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let i = 0; i < l; i++) {
      diag += m[i * l + i] * m[i * l + i];
      for (let j = i + 1; j < l; j++) off += m[i * l + j] * m[i * l + j];
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < l; p++) {
      for (let q = p + 1; q < l; q++) {
        const apq = m[p * l + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = m[p * l + p], aqq = m[q * l + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < l; k++) {
          const mkp = m[k * l + p], mkq = m[k * l + q];
          m[k * l + p] = c * mkp - s * mkq;
          m[k * l + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < l; k++) {
          const mpk = m[p * l + k], mqk = m[q * l + k];
          m[p * l + k] = c * mpk - s * mqk;
          m[q * l + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < l; k++) {
          const vkp = v[k * l + p], vkq = v[k * l + q];
          v[k * l + p] = c * vkp - s * vkq;
          v[k * l + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: l }, (_, i) => i).sort((i, j) => m[j * l + j] - m[i * l + i]);
  const values = new Float64Array(l);
  const vectors = new Float64Array(l * l);
  for (let c = 0; c < l; c++) {
    const src = order[c];
    values[c] = m[src * l + src];
    for (let j = 0; j < l; j++) vectors[j * l + c] = v[j * l + src];
  }
  return { values, vectors };
}
