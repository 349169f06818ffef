/**
 * What a panel shows besides its points: trails of the selected samples over the last frames,
 * the samples whose neighbourhoods changed most (movers) and the decision regions. Trails come
 * from reduced frames already cached; movers and regions are computed in the reduction worker
 * and kept here by frame, so scrubbing back and forth asks for nothing twice.
 */
import type { Frame } from "../transport/frame.ts";
import type { Reduced } from "../reduction/client.ts";
import type { SharedReduction } from "../reduction/shared.ts";
import { DEFAULT_GRID, type Regions } from "../analysis/regions.ts";
import { trailTrace, trails } from "../analysis/trails.ts";
import type { ReduceMethod } from "../contract.ts";

/** Frames a trail (and the movers' window) spans, the shown one included. */
export const TRAIL_FRAMES = 10;
/** Samples ringed as movers. */
export const MOVER_COUNT = 10;
/** Cells per side of the decision-region grid. */
export const REGION_GRID = DEFAULT_GRID;
/** Computed regions and movers kept (LRU by insertion). */
const KEEP = 64;

export interface Extras {
  trails: { x: Float64Array; y: Float64Array } | null;
  /** Trails with at least two positions. */
  trailCount: number;
  moverRows: Int32Array | null;
  regions: Regions | null;
  /** Rows of the selected ids in this frame. */
  selectedRows: Int32Array;
}

export class Analyses {
  /** Asked for ("pending"), computed, or failed (not asked again: the error was shown once). */
  private readonly regions = new Map<string, Regions | "pending" | "failed">();
  private readonly movers = new Map<string, Int32Array | "pending" | "failed">();

  /** `changed` runs when something asked for earlier has arrived. */
  constructor(
    private readonly reduction: SharedReduction,
    private readonly changed: () => void,
    private readonly failed: (message: string) => void,
  ) {}

  /** The extras of `frame` (reduced as `result`) among `history` (its layer's frames, in order). */
  extras(frame: Frame, result: Reduced, history: readonly Frame[], method: ReduceMethod, selected: readonly number[], want: { regions: boolean; movers: boolean }): Extras {
    const selectedRows = rowsOf(frame, selected);
    const window = windowOf(frame, history);
    let trailData: Extras["trails"] = null, trailCount = 0;
    if (selected.length > 0) {
      const steps = [];
      for (const f of window) {
        const r = f.seq === frame.seq ? result : this.reduction.cache.peek(f.layer, method, f.seq);
        if (r === undefined) {
          this.reduction.resultOf(f, method); // reduce it (once the shown frame is done): the trail fills in
          continue;
        }
        steps.push({ ids: f.ids, xy: r.xy });
      }
      const all = trails(steps, selected);
      trailCount = all.filter((t) => finiteCount(t.xs) >= 2).length;
      if (trailCount > 0) trailData = trailTrace(all);
    }
    return {
      trails: trailData,
      trailCount,
      selectedRows,
      regions: want.regions ? this.regionsOf(frame, result) : null,
      moverRows: want.movers ? this.moversOf(window) : null,
    };
  }

  private regionsOf(frame: Frame, result: Reduced): Regions | null {
    if (frame.preds === null) return null;
    const key = `${result.layer}\u0000${result.method}\u0000${result.seq}`;
    const have = this.regions.get(key);
    if (have === "pending" || have === "failed") return null;
    if (have !== undefined) return have;
    this.regions.set(key, "pending");
    trim(this.regions);
    // Copies: the frame's columns view the whole message buffer, which a call would clone entire.
    this.reduction.call("regions", result.xy.slice(), frame.preds.slice(), frame.n, { grid: REGION_GRID }).then(
      (r) => {
        this.regions.set(key, r);
        this.changed();
      },
      (err: Error) => {
        this.regions.set(key, "failed");
        this.failed(`decision regions: ${err.message}`);
      },
    );
    return null;
  }

  private moversOf(window: readonly Frame[]): Int32Array | null {
    if (window.length < 2) return null;
    const first = window[0], last = window[window.length - 1];
    const key = `${first.seq}\u0000${last.seq}`;
    const have = this.movers.get(key);
    if (have === "pending" || have === "failed") return null;
    if (have !== undefined) return have;
    this.movers.set(key, "pending");
    trim(this.movers);
    const rows = (f: Frame) => ({ seq: f.seq, ids: f.ids.slice(), x: f.x.slice(), n: f.n, d: f.d });
    this.reduction.call("movers", rows(first), rows(last), MOVER_COUNT).then(
      (m) => {
        this.movers.set(key, m);
        this.changed();
      },
      (err: Error) => {
        this.movers.set(key, "failed");
        this.failed(`movers: ${err.message}`);
      },
    );
    return null;
  }
}

/** The last TRAIL_FRAMES frames of `history` up to and including `frame`. */
export function windowOf(frame: Frame, history: readonly Frame[]): Frame[] {
  const at = history.findIndex((f) => f.seq === frame.seq);
  if (at < 0) return [frame];
  return history.slice(Math.max(0, at - TRAIL_FRAMES + 1), at + 1);
}

/** Row indices of `ids` in `frame` (ids it lacks are skipped). */
export function rowsOf(frame: Frame, ids: readonly number[]): Int32Array {
  if (ids.length === 0) return new Int32Array(0);
  const wanted = new Set(ids);
  const out: number[] = [];
  for (let i = 0; i < frame.n; i++) if (wanted.has(frame.ids[i])) out.push(i);
  return Int32Array.from(out);
}

function finiteCount(xs: Float64Array): number {
  let c = 0;
  for (const v of xs) if (Number.isFinite(v)) c++;
  return c;
}

function trim<V>(map: Map<string, V>): void {
  for (const key of map.keys()) {
    if (map.size <= KEEP) break;
    map.delete(key);
  }
}
