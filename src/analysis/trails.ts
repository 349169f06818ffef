/**
 * Trajectories of selected samples across frames, and one line trace holding all of them.
 * Pure and DOM-free. Missing positions stay NaN: Plotly breaks a line at NaN, so a sample that
 * is absent from a frame (or has no position there) shows as a gap rather than a false segment.
 */

/** One frame of a map: its sample ids (length n) and 2n interleaved positions (NaN = none). */
export interface TrailStep {
  ids: Int32Array;
  xy: Float32Array;
}

/** Positions of one sample, one entry per frame (oldest first); NaN where it has none. */
export interface Trail {
  id: number;
  xs: Float64Array;
  ys: Float64Array;
}

/**
 * Selected ids below this use a dense Int32Array id→slot lookup (4 bytes per id, 1 MiB at most);
 * larger or negative ids use a Map.
 */
const DENSE_MAX_ID = 1 << 18;

/**
 * For each selected sample id (in the given order; a repeated id gets its own copy) its positions
 * across `steps`, oldest first: xs[f], ys[f] are the sample's position in frame f, NaN where the id
 * is missing from the frame or either coordinate is non-finite. Within a frame the first row with
 * the id counts. Each frame is scanned once against an id→slot lookup of the selection (built once),
 * so the cost is O(Σ frame sizes + selected × frames), independent of how many ids are selected.
 */
export function trails(steps: readonly TrailStep[], selected: Int32Array | readonly number[]): Trail[] {
  const S = selected.length, F = steps.length;
  const out: Trail[] = new Array(S);
  for (let s = 0; s < S; s++) out[s] = { id: selected[s], xs: new Float64Array(F).fill(NaN), ys: new Float64Array(F).fill(NaN) };
  if (S === 0 || F === 0) return out;

  // id → first slot with that id; later slots with the same id copy it at the end
  let maxId = -1, dense = true;
  for (let s = 0; s < S; s++) {
    const id = selected[s];
    if (!(Number.isInteger(id) && id >= 0 && id < DENSE_MAX_ID)) { dense = false; break; }
    if (id > maxId) maxId = id;
  }
  const table = dense ? new Int32Array(maxId + 1).fill(-1) : null;
  const map = dense ? null : new Map<number, number>();
  const firstOf = new Int32Array(S);
  let distinct = 0;
  for (let s = 0; s < S; s++) {
    const id = selected[s];
    const prev = table ? table[id] : map!.get(id) ?? -1;
    if (prev >= 0) { firstOf[s] = prev; continue; }
    firstOf[s] = s;
    distinct++;
    if (table) table[id] = s;
    else map!.set(id, s);
  }

  const seen = new Int32Array(S); // seen[slot] = f + 1 once frame f placed it
  for (let f = 0; f < F; f++) {
    const { ids, xy } = steps[f];
    const n = ids.length;
    if (xy.length < 2 * n) throw new Error(`frame ${f}: ${xy.length} positions for ${n} ids, expected 2n = ${2 * n}`);
    let placed = 0;
    for (let r = 0; r < n && placed < distinct; r++) {
      const id = ids[r];
      const slot = table ? (id >= 0 && id <= maxId ? table[id] : -1) : map!.get(id) ?? -1;
      if (slot < 0 || seen[slot] === f + 1) continue;
      seen[slot] = f + 1;
      placed++;
      const x = xy[2 * r], y = xy[2 * r + 1];
      if (Number.isFinite(x) && Number.isFinite(y)) { out[slot].xs[f] = x; out[slot].ys[f] = y; }
    }
  }
  for (let s = 0; s < S; s++) {
    if (firstOf[s] === s) continue;
    out[s].xs.set(out[firstOf[s]].xs);
    out[s].ys.set(out[firstOf[s]].ys);
  }
  return out;
}

/**
 * All trails concatenated into one line trace, a NaN point between consecutive trails, so one
 * Plotly trace draws every trail (one trace's draw cost instead of one per sample).
 * Length Σ frames + (trails − 1); empty for no trails.
 */
export function trailTrace(trails: readonly Trail[]): { x: Float64Array; y: Float64Array } {
  let total = Math.max(0, trails.length - 1);
  for (const t of trails) total += t.xs.length;
  const x = new Float64Array(total), y = new Float64Array(total);
  let o = 0;
  for (let s = 0; s < trails.length; s++) {
    if (s > 0) { x[o] = NaN; y[o] = NaN; o++; }
    x.set(trails[s].xs, o);
    y.set(trails[s].ys, o);
    o += trails[s].xs.length;
  }
  return { x, y };
}
