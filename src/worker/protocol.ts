/**
 * Messages between the main thread and the reduction worker (structured-clone friendly). What the
 * worker sends back is typed from the worker's own functions (LayerReducer.reduce, calls.ts), so no
 * result is described twice.
 */
import type { ReduceMethod } from "../contract.ts";
import type { LayerReducer } from "../reduce/pipeline.ts";
import type { CallName, WorkerCalls } from "./calls.ts";

/** Reduce one frame of one layer; `x` (n×d row-major) should be transferred. */
export interface ReduceRequest {
  type: "reduce";
  id: number;
  layer: string;
  method: ReduceMethod;
  x: Float32Array;
  n: number;
  d: number;
  seq: number;
  /** Reduced frames (seqs) it may warm-start from, nearest first (empty: a cold fit); null: the frame reduced last. */
  warmFrom: number[] | null;
  /** Labels per row (−1 = none) for the faithfulness measure; null without labels. */
  labels: Int32Array | null;
}

/** Run one of the worker's calls (calls.ts) with `args`. */
export interface CallRequest<K extends CallName = CallName> {
  type: "call";
  id: number;
  name: K;
  args: Parameters<WorkerCalls[K]>;
}

export type WorkerRequest = ReduceRequest | CallRequest;

export interface ProgressReply {
  type: "progress";
  id: number;
  layer: string;
  /** 0‥1 through the current frame. */
  fraction: number;
  /** "pca" | "knn" | "graph" | "layout" | "done" */
  stage: string;
}

/** A reduced frame: what LayerReducer.reduce returned for `seq` of `layer` (its `xy` is transferred). */
export type ResultReply = { type: "result"; id: number; layer: string; seq: number } & ReturnType<LayerReducer["reduce"]>;

export interface ErrorReply {
  type: "error";
  id: number;
  layer: string;
  seq: number;
  message: string;
}

/** What a call returned (`ok`), or why it failed. */
export type CallReply =
  | { type: "return"; id: number; ok: true; value: ReturnType<WorkerCalls[CallName]> }
  | { type: "return"; id: number; ok: false; message: string };

export type WorkerReply = ProgressReply | ResultReply | ErrorReply | CallReply;
