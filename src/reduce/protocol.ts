/** Messages between the main thread and the reduction worker (structured-clone friendly). */

export type ReduceMethod = "umap" | "pca";

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

/** Drop warm state for one layer (both methods), or for all layers when `layer` is omitted. */
export interface ResetRequest {
  type: "reset";
  layer?: string;
}

export type WorkerRequest = ReduceRequest | ResetRequest;

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

export type WorkerReply = ProgressReply | ResultReply | ErrorReply;
