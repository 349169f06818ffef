/** Position interpolation for gliding points between frames (Plotly's scattergl animation is broken). */

/** Ease in-out (cubic) on t in [0, 1]. */
export function ease(t: number): number {
  const c = Math.min(1, Math.max(0, t));
  return c < 0.5 ? 4 * c * c * c : 1 - (-2 * c + 2) ** 3 / 2;
}

/**
 * Interpolated x and y arrays between `from` and `to` (interleaved xy, 2n values) at progress t.
 * A point missing (NaN) at either end jumps to its destination.
 */
export function interpolate(from: Float32Array, to: Float32Array, t: number): [Float64Array, Float64Array] {
  const n = to.length / 2;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const e = ease(t);
  for (let i = 0; i < n; i++) {
    const x0 = from[2 * i], y0 = from[2 * i + 1];
    const x1 = to[2 * i], y1 = to[2 * i + 1];
    if (Number.isFinite(x0) && Number.isFinite(y0)) {
      xs[i] = x0 + (x1 - x0) * e;
      ys[i] = y0 + (y1 - y0) * e;
    } else {
      xs[i] = x1;
      ys[i] = y1;
    }
  }
  return [xs, ys];
}

/** Axis ranges covering every finite point of the given embeddings, with a margin. */
export function bounds(...embeddings: Float32Array[]): { x: [number, number]; y: [number, number] } | null {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const xy of embeddings) {
    for (let i = 0; i + 1 < xy.length; i += 2) {
      const x = xy[i], y = xy[i + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x0 > x1) return null;
  const mx = Math.max((x1 - x0) * 0.05, 1e-6), my = Math.max((y1 - y0) * 0.05, 1e-6);
  return { x: [x0 - mx, x1 + mx], y: [y0 - my, y1 + my] };
}
