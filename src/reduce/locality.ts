/**
 * Packed rows in an order where neighbours sit near each other in memory. A warm frame's kNN
 * refinement reads, for every point, the rows of its neighbours' neighbours: in the probe's own
 * order those are scattered over the whole frame, and past the CPU caches every read waits for
 * memory (~1 s a frame at 50,000 points). Sorted along a Z-order curve of the previous layout, a
 * point's neighbours mostly share its cache lines. Only the packing changes: `rows` still maps
 * each packed row to its original index, so every result is scattered back as before.
 */
import type { Rows } from "./warm.ts";

/**
 * Below this many rows the pre-reduced rows (32 float32 each) fit in the L2 cache and reordering
 * costs more than it saves.
 */
export const LOCALITY_MIN_ROWS = 16384;

/** Interleave the low 16 bits of x and y (Morton code). */
function interleave(x: number, y: number): number {
  const spread = (v: number): number => {
    v &= 0xffff;
    v = (v | (v << 8)) & 0x00ff00ff;
    v = (v | (v << 4)) & 0x0f0f0f0f;
    v = (v | (v << 2)) & 0x33333333;
    v = (v | (v << 1)) & 0x55555555;
    return v;
  };
  return (spread(x) | (spread(y) << 1)) >>> 0;
}

/**
 * The rows of `data` sorted along a Z-order curve of `xy` (2 values per original row, NaN where
 * unknown: those rows go last, in their order). Returns `data` itself below `minRows` rows.
 */
export function inLocalityOrder(data: Rows, xy: Float32Array, minRows = LOCALITY_MIN_ROWS): Rows {
  const { m, d, rows, xc } = data;
  if (m < minRows || m === 0) return data;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let r = 0; r < m; r++) {
    const px = xy[2 * rows[r]], py = xy[2 * rows[r] + 1];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    if (px < x0) x0 = px;
    if (px > x1) x1 = px;
    if (py < y0) y0 = py;
    if (py > y1) y1 = py;
  }
  if (!(x1 >= x0 && y1 >= y0)) return data;
  const sx = 65535 / Math.max(x1 - x0, 1e-12), sy = 65535 / Math.max(y1 - y0, 1e-12);
  const codes = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    const px = xy[2 * rows[r]], py = xy[2 * rows[r] + 1];
    // unknown positions sort after every code (2^32 and up), in packed order
    codes[r] = Number.isFinite(px) && Number.isFinite(py) ? interleave((px - x0) * sx, (py - y0) * sy) : 2 ** 32 + r;
  }
  const order = Int32Array.from({ length: m }, (_, r) => r).sort((a, b) => codes[a] - codes[b] || a - b);
  const sorted = new Float32Array(m * d);
  for (let r = 0; r < m; r++) sorted.set(xc.subarray(order[r] * d, order[r] * d + d), r * d);
  return { ...data, rows: order.map((r) => rows[r]), xc: sorted };
}
