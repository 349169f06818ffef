/**
 * One-off computations the reduction worker runs besides reducing frames. The main thread's
 * `call(name, ...args)` is typed from these functions themselves (see ReductionClient.call), so a
 * changed signature here is a type error at every call site.
 */
import { decisionRegions } from "../analysis/regions.ts";
import { neighbourhoodChange, topMovers } from "../analysis/movers.ts";
import { frameNeighbours, MOVER_NEIGHBOURS } from "../reduce/neighbours.ts";

/** One frame's activations as the worker needs them (`x` is n×d row-major, `ids` the sample ids). */
export interface FrameRows {
  seq: number;
  ids: Int32Array;
  x: Float32Array;
  n: number;
  d: number;
}

/** Neighbour graphs of recent frames by seq: scrubbing a window back and forth reuses them. */
const GRAPH_CACHE = 16;

/** The worker's functions, with the state they keep (one set per worker or main-thread handler). */
export function createCalls() {
  const graphs = new Map<number, Int32Array>();
  const graphOf = (frame: FrameRows): Int32Array => {
    let g = graphs.get(frame.seq);
    if (g === undefined) {
      g = frameNeighbours(frame.x, frame.n, frame.d, MOVER_NEIGHBOURS);
      graphs.set(frame.seq, g);
      for (const key of graphs.keys()) {
        if (graphs.size <= GRAPH_CACHE) break;
        graphs.delete(key);
      }
    }
    return g;
  };
  /**
   * Rows of `last` (most first) whose full-dimensional neighbourhoods changed most since `first`:
   * samples are matched by id, so a probe given in another order or with other samples still
   * compares each sample with itself (samples missing from `first` are not ranked).
   */
  const movers = (first: FrameRows, last: FrameRows, count: number): Int32Array => {
    const before = inRowsOf(graphOf(first), first.ids, last.ids, last.n);
    return topMovers(neighbourhoodChange(before, graphOf(last), last.n, MOVER_NEIGHBOURS), count);
  };
  return { regions: decisionRegions, movers };
}

/** A graph over `fromIds`' rows (n×k) re-indexed to the rows of `toIds` (−1 where a sample is missing). */
function inRowsOf(graph: Int32Array, fromIds: Int32Array, toIds: Int32Array, n: number): Int32Array {
  const k = MOVER_NEIGHBOURS;
  const rowOf = new Map<number, number>();
  toIds.forEach((id, row) => rowOf.set(id, row));
  const out = new Int32Array(n * k).fill(-1);
  for (let r = 0; r < fromIds.length; r++) {
    const to = rowOf.get(fromIds[r]);
    if (to === undefined) continue;
    for (let s = 0; s < k; s++) {
      const j = graph[r * k + s];
      out[to * k + s] = j >= 0 ? (rowOf.get(fromIds[j]) ?? -1) : -1;
    }
  }
  return out;
}

export type WorkerCalls = ReturnType<typeof createCalls>;
export type CallName = keyof WorkerCalls;
