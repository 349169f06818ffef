/**
 * Decision regions of a 2-D map: a grid of cells over the points, each cell coloured by the
 * weighted vote of its k nearest predicted points (a kNN classifier evaluated on the map).
 * Pure and DOM-free; the nearest points are found through a uniform bucket grid (spatial hash),
 * so a 64×64 grid over 5000 points costs a few thousand small local searches, not 20 million distances.
 * Worst case: a few very tight clusters (or identical points) with `maxDistance: Infinity` put
 * thousands of points in one bucket that every cell scans (≈40 ms at n = 5000 on a 2-core Xeon,
 * vs ≈4 ms for typical maps); the default `maxDistance` stops far cells early.
 */

export interface RegionOptions {
  /** Cells per side (default 64). */
  grid?: number;
  /** Voters per cell (default 7). */
  k?: number;
  /** Fraction of the points' range added on each side (default 0.05). */
  pad?: number;
  /** In cell widths: cells farther than this from every voter get −1 (default 6). */
  maxDistance?: number;
}

export interface Regions {
  grid: number;
  /** Left edge of column 0 and bottom edge of row 0, in map units. */
  x0: number;
  y0: number;
  /** Cell width and height, in map units. */
  dx: number;
  dy: number;
  /** grid×grid classes, row-major, row 0 at y0 (bottom); −1 = no region. */
  classes: Int16Array;
  /** Share of the cell's (distance-weighted) votes won by its class, 0..1; 0 where the class is −1. */
  confidence: Float32Array;
}

/** Cells per side: fine enough to follow cluster borders, coarse enough to draw at once. */
export const DEFAULT_GRID = 64;
/** Odd, so two classes cannot tie on unweighted counts; small, so boundaries stay local. */
const DEFAULT_K = 7;
const DEFAULT_PAD = 0.05;
/** Six cells ≈ 10% of a 64-cell map: regions hug the points instead of flooding empty space. */
const DEFAULT_MAX_DISTANCE = 6;
/** Mean voters per bucket of the spatial hash: a few points per bucket keeps rings cheap to scan. */
const BUCKET_LOAD = 3;
/** Bucket grid side cap, bounding the hash's memory for huge n (256² = 65k buckets). */
const MAX_BUCKET_SIDE = 256;
/** Vote weight is 1/(distance + EPS·cell); keeps a point exactly on a cell centre finite. */
const EPS_CELLS = 1e-6;
/** Classes are stored as Int16; larger predictions cannot vote. */
const MAX_CLASS = 32767;
/** Extent used when there is no finite point at all. */
const EMPTY_EXTENT = { lo: 0, hi: 1 };

/** One axis of the cell grid: [lo, lo + grid·step], padded; a zero range borrows `fallback`. */
function axis(min: number, max: number, fallback: number, pad: number, grid: number): { lo: number; step: number } {
  if (!(max >= min)) return { lo: EMPTY_EXTENT.lo, step: (EMPTY_EXTENT.hi - EMPTY_EXTENT.lo) / grid };
  const span = max > min ? max - min : fallback;
  const total = span * (1 + 2 * pad);
  return { lo: (min + max) / 2 - total / 2, step: total / grid };
}

/**
 * Computes, for each cell centre of a grid×grid map over the finite points (padded by `pad`), the
 * class winning the 1/(distance + ε)-weighted vote of its k nearest points with a finite position
 * and a prediction ≥ 0 (fewer when fewer exist), and the winner's share of the votes.
 * Cells whose nearest voter is farther than `maxDistance` cell widths (the larger of dx, dy), and
 * every cell when there is no voter, get −1. Equal weights go to the lower class.
 */
export function decisionRegions(xy: Float32Array, preds: Int32Array, n: number, opts: RegionOptions = {}): Regions {
  if (xy.length < 2 * n || preds.length < n) throw new Error(`expected 2n = ${2 * n} positions and n = ${n} predictions, got ${xy.length} and ${preds.length}`);
  const grid = Math.max(1, Math.floor(opts.grid ?? DEFAULT_GRID));
  const k = Math.max(1, Math.floor(opts.k ?? DEFAULT_K));
  const pad = Math.max(0, opts.pad ?? DEFAULT_PAD);
  const maxCells = opts.maxDistance ?? DEFAULT_MAX_DISTANCE;
  const cells = grid * grid;
  const classes = new Int16Array(cells).fill(-1);
  const confidence = new Float32Array(cells);

  // extent over every finite position (the map as drawn), voters counted on the way
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity, m = 0;
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
    const c = preds[i];
    if (c >= 0 && c <= MAX_CLASS) m++;
  }
  const fallback = maxX - minX > 0 ? maxX - minX : maxY - minY > 0 ? maxY - minY : 1;
  const ax = axis(minX, maxX, fallback, pad, grid), ay = axis(minY, maxY, fallback, pad, grid);
  const x0 = ax.lo, dx = ax.step, y0 = ay.lo, dy = ay.step;
  const out: Regions = { grid, x0, y0, dx, dy, classes, confidence };
  if (m === 0) return out;

  // spatial hash: voters sorted by bucket (counting sort), coordinates copied for locality
  const B = Math.max(1, Math.min(MAX_BUCKET_SIDE, Math.round(Math.sqrt(m / BUCKET_LOAD))));
  const bw = (grid * dx) / B, bh = (grid * dy) / B;
  const bucketOf = (x: number, y: number): number => {
    const bi = Math.min(B - 1, Math.max(0, Math.floor((x - x0) / bw)));
    const bj = Math.min(B - 1, Math.max(0, Math.floor((y - y0) / bh)));
    return bj * B + bi;
  };
  const start = new Int32Array(B * B + 1);
  const where = new Int32Array(m);
  for (let i = 0, v = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1], c = preds[i];
    if (!Number.isFinite(x) || !Number.isFinite(y) || !(c >= 0 && c <= MAX_CLASS)) continue;
    const b = bucketOf(x, y);
    where[v++] = b;
    start[b + 1]++;
  }
  for (let b = 0; b < B * B; b++) start[b + 1] += start[b];
  const fill = start.slice(0, B * B);
  const px = new Float64Array(m), py = new Float64Array(m), pc = new Int16Array(m);
  for (let i = 0, v = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1], c = preds[i];
    if (!Number.isFinite(x) || !Number.isFinite(y) || !(c >= 0 && c <= MAX_CLASS)) continue;
    const s = fill[where[v++]]++;
    px[s] = x; py[s] = y; pc[s] = c;
  }

  const kk = Math.min(k, m);
  const bestD = new Float64Array(kk), bestC = new Int32Array(kk), weight = new Float64Array(kk);
  const cellW = Math.max(dx, dy);
  const maxD = Number.isFinite(maxCells) ? Math.max(0, maxCells) * cellW : Infinity;
  const maxD2 = maxD * maxD;
  const eps = EPS_CELLS * cellW;

  for (let row = 0; row < grid; row++) {
    const qy = y0 + (row + 0.5) * dy;
    const bj = Math.min(B - 1, Math.floor((qy - y0) / bh));
    for (let col = 0; col < grid; col++) {
      const qx = x0 + (col + 0.5) * dx;
      const bi = Math.min(B - 1, Math.floor((qx - x0) / bw));
      let found = 0;
      for (let r = 0; ; r++) {
        const jlo = bj - r, jhi = bj + r, ilo = bi - r, ihi = bi + r;
        for (let j = Math.max(0, jlo); j <= Math.min(B - 1, jhi); j++) {
          const edge = j === jlo || j === jhi;
          const step = edge ? 1 : ihi - ilo;
          for (let i = ilo; i <= ihi; i += step) {
            if (i < 0 || i >= B) continue;
            const b = j * B + i;
            for (let s = start[b], e = start[b + 1]; s < e; s++) {
              const ex = px[s] - qx, ey = py[s] - qy, d2 = ex * ex + ey * ey;
              if (found === kk && d2 >= bestD[kk - 1]) continue;
              // insertion into the sorted k-best list
              let t = found < kk ? found++ : kk - 1;
              while (t > 0 && bestD[t - 1] > d2) { bestD[t] = bestD[t - 1]; bestC[t] = bestC[t - 1]; t--; }
              bestD[t] = d2; bestC[t] = pc[s];
            }
          }
        }
        // distance from q to the nearest unvisited bucket (Infinity once every side hit the border)
        let bound = Infinity;
        if (ilo > 0) bound = Math.min(bound, qx - (x0 + ilo * bw));
        if (ihi < B - 1) bound = Math.min(bound, x0 + (ihi + 1) * bw - qx);
        if (jlo > 0) bound = Math.min(bound, qy - (y0 + jlo * bh));
        if (jhi < B - 1) bound = Math.min(bound, y0 + (jhi + 1) * bh - qy);
        const bound2 = bound * bound;
        if (found === kk && bestD[kk - 1] <= bound2) break;
        if (bound2 > maxD2 && (found === 0 || bestD[0] > maxD2)) break;
        if (bound === Infinity) break;
      }
      if (found === 0 || bestD[0] > maxD2) continue;
      // weighted vote: the class with the largest summed weight, lower class on a tie
      let total = 0;
      for (let t = 0; t < found; t++) { weight[t] = 1 / (Math.sqrt(bestD[t]) + eps); total += weight[t]; }
      let win = -1, winW = -1;
      for (let t = 0; t < found; t++) {
        const c = bestC[t];
        let w = 0;
        for (let u = 0; u < found; u++) if (bestC[u] === c) w += weight[u];
        if (w > winW || (w === winW && c < win)) { win = c; winW = w; }
      }
      classes[row * grid + col] = win;
      confidence[row * grid + col] = winW / total;
    }
  }
  return out;
}
