/**
 * The t-SNE gradient in 2-D, Barnes–Hut approximated (van der Maaten 2014), in openTSNE's convention
 * (no factor 4; it is folded into the learning rate):
 *   ∂C/∂y_i = exaggeration · Σ_j p_ij q_ij (y_i − y_j) − (1/Z) Σ_j q_ij² (y_i − y_j),
 *   q_ij = 1 / (1 + |y_i − y_j|²),  Z = Σ_{k≠l} q_kl.
 * The attraction is exact over the sparse P; the repulsion sums a quadtree cell as one point at its
 * centre of mass when the cell's width is below θ times its distance.
 */
import type { TsneAffinities } from "./tsne-affinities.ts";

/** Barnes–Hut accuracy (openTSNE's and bhtsne's default): smaller is more exact and slower. */
export const DEFAULT_THETA = 0.5;
/** A cell of at most this many points is a leaf whose points are summed exactly (fewer, larger nodes). */
const LEAF_SIZE = 8;
/** Deeper than this a cell is a leaf however many points it holds (duplicates cannot be split). */
const MAX_DEPTH = 40;

/**
 * Quadtree stored in depth-first order: node v's first child (if any) is v + 1 and `skip[v]` is the
 * node after its subtree, so a traversal is one loop that either descends (v + 1) or skips.
 * Points are permuted into tree order (`px`, `py`, `who`) so a leaf's points are contiguous.
 */
class QuadTree {
  comX: Float64Array;
  comY: Float64Array;
  count: Float64Array;
  width2: Float64Array;
  skip: Int32Array;
  leafLo: Int32Array;
  leafHi: Int32Array;
  nodes = 0;
  readonly px: Float64Array;
  readonly py: Float64Array;
  readonly who: Int32Array;
  private readonly tmp: Int32Array;

  constructor(readonly m: number) {
    const cap = Math.max(16, 2 * m);
    this.comX = new Float64Array(cap); this.comY = new Float64Array(cap); this.count = new Float64Array(cap);
    this.width2 = new Float64Array(cap); this.skip = new Int32Array(cap);
    this.leafLo = new Int32Array(cap); this.leafHi = new Int32Array(cap);
    this.px = new Float64Array(m); this.py = new Float64Array(m);
    this.who = new Int32Array(m); this.tmp = new Int32Array(m);
  }

  private grow(): void {
    const cap = this.comX.length * 2;
    const g64 = (a: Float64Array): Float64Array => { const b = new Float64Array(cap); b.set(a); return b; };
    const g32 = (a: Int32Array): Int32Array => { const b = new Int32Array(cap); b.set(a); return b; };
    this.comX = g64(this.comX); this.comY = g64(this.comY); this.count = g64(this.count); this.width2 = g64(this.width2);
    this.skip = g32(this.skip); this.leafLo = g32(this.leafLo); this.leafHi = g32(this.leafHi);
  }

  build(y: Float64Array): void {
    const m = this.m;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < m; i++) {
      const a = y[2 * i], b = y[2 * i + 1];
      if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
      this.who[i] = i;
    }
    const half = Math.max(x1 - x0, y1 - y0, 1e-12) / 2 * (1 + 1e-9);
    this.nodes = 0;
    this.node(y, 0, m, (x0 + x1) / 2, (y0 + y1) / 2, half, 0);
    for (let s = 0; s < m; s++) { const i = this.who[s]; this.px[s] = y[2 * i]; this.py[s] = y[2 * i + 1]; }
  }

  private node(y: Float64Array, lo: number, hi: number, cx: number, cy: number, half: number, depth: number): void {
    if (this.nodes === this.comX.length) this.grow();
    const v = this.nodes++;
    const who = this.who;
    let sx = 0, sy = 0;
    for (let s = lo; s < hi; s++) { sx += y[2 * who[s]]; sy += y[2 * who[s] + 1]; }
    const c = hi - lo;
    this.comX[v] = sx / c; this.comY[v] = sy / c; this.count[v] = c;
    this.width2[v] = 4 * half * half;
    this.leafLo[v] = lo; this.leafHi[v] = lo;
    if (c <= LEAF_SIZE || depth >= MAX_DEPTH) {
      this.leafHi[v] = hi;
    } else {
      // counting sort of the cell's points into its four quadrants
      const counts = [0, 0, 0, 0];
      const tmp = this.tmp;
      for (let s = lo; s < hi; s++) {
        const i = who[s];
        const q = (y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0);
        counts[q]++;
      }
      const start = [lo, lo + counts[0], lo + counts[0] + counts[1], lo + counts[0] + counts[1] + counts[2]];
      const at = start.slice();
      for (let s = lo; s < hi; s++) {
        const i = who[s];
        tmp[at[(y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0)]++] = i;
      }
      for (let s = lo; s < hi; s++) who[s] = tmp[s];
      const h = half / 2;
      for (let q = 0; q < 4; q++) {
        if (counts[q] === 0) continue;
        this.node(y, start[q], start[q] + counts[q], cx + (q & 1 ? h : -h), cy + (q & 2 ? h : -h), h, depth + 1);
      }
    }
    this.skip[v] = this.nodes;
  }
}

/** Reusable buffers for `tsneGradient` (one per embedding run). */
export class TsneGradientWorkspace {
  readonly tree: QuadTree;
  readonly rep: Float64Array;
  constructor(readonly m: number) {
    this.tree = new QuadTree(m);
    this.rep = new Float64Array(2 * m);
  }
}

/**
 * Writes the gradient of KL(P‖Q) at y (2m, interleaved) into `grad` and returns Z = Σ_{k≠l} q_kl.
 * `theta` = 0 would be exact but quadratic; DEFAULT_THETA is the usual trade.
 */
export function tsneGradient(
  y: Float64Array, P: TsneAffinities, exaggeration: number, grad: Float64Array,
  ws: TsneGradientWorkspace, theta = DEFAULT_THETA,
): number {
  const m = P.m;
  const tree = ws.tree, rep = ws.rep;
  tree.build(y);
  const { comX, comY, count, width2, skip, leafLo, leafHi, px, py, who } = tree;
  const nodes = tree.nodes, theta2 = theta * theta;
  let Z = 0;
  // repulsion, queried in tree order so consecutive queries walk the same cells
  for (let s = 0; s < m; s++) {
    const xi = px[s], yi = py[s];
    let fx = 0, fy = 0, z = 0;
    let v = 0;
    while (v < nodes) {
      const dx = xi - comX[v], dy = yi - comY[v];
      const d2 = dx * dx + dy * dy;
      if (width2[v] < theta2 * d2) {
        const q = 1 / (1 + d2), cq = count[v] * q;
        z += cq;
        fx += cq * q * dx; fy += cq * q * dy;
        v = skip[v];
      } else if (leafHi[v] > leafLo[v]) {
        for (let t = leafLo[v]; t < leafHi[v]; t++) {
          if (t === s) continue;
          const ex = xi - px[t], ey = yi - py[t];
          const q = 1 / (1 + ex * ex + ey * ey);
          z += q;
          fx += q * q * ex; fy += q * q * ey;
        }
        v = skip[v];
      } else v++;
    }
    const i = who[s];
    rep[2 * i] = fx; rep[2 * i + 1] = fy;
    Z += z;
  }
  // attraction over the sparse P (exact)
  const { rowPtr, cols, vals } = P;
  const invZ = Z > 0 ? 1 / Z : 0;
  for (let i = 0; i < m; i++) {
    const xi = y[2 * i], yi = y[2 * i + 1];
    let ax = 0, ay = 0;
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const j = cols[e];
      const dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
      const pq = vals[e] / (1 + dx * dx + dy * dy);
      ax += pq * dx; ay += pq * dy;
    }
    grad[2 * i] = exaggeration * ax - invZ * rep[2 * i];
    grad[2 * i + 1] = exaggeration * ay - invZ * rep[2 * i + 1];
  }
  return Z;
}
