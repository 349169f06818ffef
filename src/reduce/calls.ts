/**
 * One-off computations the reduction worker runs besides reducing frames. The main thread's
 * `call(name, ...args)` is typed from these functions themselves (see ReductionClient.call), so a
 * changed signature here is a type error at every call site.
 */
import { decisionRegions } from "../analysis/regions.ts";
import { neighbourhoodChange, topMovers } from "../analysis/movers.ts";
import { frameNeighbours, MOVER_NEIGHBOURS } from "./neighbours.ts";

/** One frame's activations as the worker needs them (`x` is n×d row-major). */
export interface FrameRows {
  seq: number;
  x: Float32Array;
  n: number;
  d: number;
}

export interface Movers {
  /** Row indices of the samples whose neighbourhoods changed most, most first. */
  rows: Int32Array;
  /** Jaccard distance of each row's neighbourhood between the two frames (NaN = unknown). */
  scores: Float32Array;
}

/** Neighbour graphs of recent frames by seq: scrubbing a window back and forth reuses them. */
const GRAPH_CACHE = 16;
const graphs = new Map<number, Int32Array>();

function graphOf(frame: FrameRows): Int32Array {
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
}

/** The `count` samples whose full-dimensional neighbourhoods changed most from `first` to `last`. */
export function movers(first: FrameRows, last: FrameRows, count: number): Movers {
  if (first.n !== last.n) throw new Error(`the probe changed size (${first.n} → ${last.n} samples): no movers across it`);
  const scores = neighbourhoodChange(graphOf(first), graphOf(last), first.n, MOVER_NEIGHBOURS);
  return { rows: topMovers(scores, count), scores };
}

export const WORKER_CALLS = { regions: decisionRegions, movers };
export type WorkerCalls = typeof WORKER_CALLS;
export type CallName = keyof WorkerCalls;
