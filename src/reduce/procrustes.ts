/**
 * Orthogonal Procrustes in 2-D: the rotation or reflection (plus translation, optionally a uniform
 * scale) that maps a new embedding onto a reference, fitted over rows finite in both.
 */

export interface Procrustes2D {
  /** 2×2 orthogonal matrix, row-major; applied to row vectors: y' = (y − srcCenter)·R·scale + dstCenter. */
  r: Float64Array;
  scale: number;
  srcCenter: [number, number];
  dstCenter: [number, number];
  reflection: boolean;
  /** Rows used for the fit (finite in both). */
  used: number;
}

export function fitProcrustes(src: Float32Array, dst: Float32Array, n: number, opts: { scale?: boolean } = {}): Procrustes2D {
  let sx = 0, sy = 0, tx = 0, ty = 0, used = 0;
  for (let i = 0; i < n; i++) {
    const a = src[2 * i], b = src[2 * i + 1], c = dst[2 * i], d = dst[2 * i + 1];
    if (!Number.isFinite(a + b + c + d)) continue;
    sx += a; sy += b; tx += c; ty += d; used++;
  }
  const id: Procrustes2D = {
    r: Float64Array.of(1, 0, 0, 1), scale: 1, srcCenter: [0, 0], dstCenter: [0, 0], reflection: false, used,
  };
  if (used === 0) return id;
  sx /= used; sy /= used; tx /= used; ty /= used;
  // M = Aᵀ B over centred rows
  let m00 = 0, m01 = 0, m10 = 0, m11 = 0, ss = 0;
  for (let i = 0; i < n; i++) {
    const a = src[2 * i], b = src[2 * i + 1], c = dst[2 * i], d = dst[2 * i + 1];
    if (!Number.isFinite(a + b + c + d)) continue;
    const ax = a - sx, ay = b - sy, bx = c - tx, by = d - ty;
    m00 += ax * bx; m01 += ax * by; m10 += ay * bx; m11 += ay * by;
    ss += ax * ax + ay * ay;
  }
  // maximise tr(Rᵀ M): rotation [[c, −s],[s, c]] vs reflection [[c, s],[s, −c]]
  const rotP = m00 + m11, rotQ = m10 - m01;
  const refP = m00 - m11, refQ = m10 + m01;
  const rotVal = Math.hypot(rotP, rotQ), refVal = Math.hypot(refP, refQ);
  let r: Float64Array, reflection: boolean, best: number;
  if (refVal > rotVal) {
    const c = refVal > 0 ? refP / refVal : 1, s = refVal > 0 ? refQ / refVal : 0;
    r = Float64Array.of(c, s, s, -c);
    reflection = true;
    best = refVal;
  } else {
    const c = rotVal > 0 ? rotP / rotVal : 1, s = rotVal > 0 ? rotQ / rotVal : 0;
    r = Float64Array.of(c, -s, s, c);
    reflection = false;
    best = rotVal;
  }
  const scale = opts.scale && ss > 0 ? best / ss : 1;
  return { r, scale, srcCenter: [sx, sy], dstCenter: [tx, ty], reflection, used };
}

/** Apply a fitted transform to n×2 points (non-finite rows stay non-finite). */
export function applyProcrustes(src: Float32Array, n: number, t: Procrustes2D, out = new Float32Array(2 * n)): Float32Array {
  const [sx, sy] = t.srcCenter, [tx, ty] = t.dstCenter, r = t.r, s = t.scale;
  for (let i = 0; i < n; i++) {
    const ax = src[2 * i] - sx, ay = src[2 * i + 1] - sy;
    out[2 * i] = (ax * r[0] + ay * r[2]) * s + tx;
    out[2 * i + 1] = (ax * r[1] + ay * r[3]) * s + ty;
  }
  return out;
}

/** Convenience: align src onto dst and return the aligned copy. */
export function alignTo(src: Float32Array, dst: Float32Array, n: number, opts: { scale?: boolean } = {}): Float32Array {
  return applyProcrustes(src, n, fitProcrustes(src, dst, n, opts));
}
