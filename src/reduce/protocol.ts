/** Messages between the main thread and the reduction worker (structured-clone friendly). */
import type { ReduceMethod } from "../contract.ts";
import type { CallName, WorkerCalls } from "./calls.ts";

export type { ReduceMethod };

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

export interface ResultReply {
  type: "result";
  id: number;
  layer: string;
  seq: number;
  /** 2n positions, NaN for excluded rows; transferred. */
  xy: Float32Array;
  cold: boolean;
  notes: string[];
  excluded: number;
  ms: number;
  method: ReduceMethod;
}

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
