/** One capture of one layer, as decoded from an Arrow IPC stream message. */
import type { TaskBoundary } from "./messages.ts";

export interface Frame {
  /** Kernel-assigned sequence number, unique per monitor; used to de-duplicate replays. */
  seq: number;
  step: number;
  layer: string;
  /** Number of points (rows). */
  n: number;
  /** Dimension of each activation vector. */
  d: number;
  /** Sample ids, length n. */
  ids: Int32Array;
  /** Labels, length n; null when the frame carries none. Missing entries are -1. */
  labels: Int32Array | null;
  /** Predictions, length n; null when the frame carries none. Missing entries are -1. */
  preds: Int32Array | null;
  /** Group of each sample (an index into `groupNames`), length n; null when the frame has none. Missing entries are -1. */
  groups: Int32Array | null;
  /** Names of the groups (the task or split a sample belongs to), in code order. */
  groupNames: string[];
  /** Every task boundary marked up to this frame. */
  tasks: TaskBoundary[];
  /** Row-major activations, n * d values; a view on the message bytes where possible. */
  x: Float32Array;
  /** Scalars that rode along (loss, accuracy, lr, ...). */
  scalars: Record<string, number>;
  /** Geometry metrics computed kernel-side for this frame and layer. */
  metrics: Record<string, number>;
  /** Number of non-finite values in x (kernel-reported; NaN/Inf rows are shown as such). */
  nonFinite: number;
  /** How the layer output became one row per sample: "none", "mean", "max", "first", "last", "flatten", "callable". */
  pool: string;
  /** The layer output's shape before pooling, batch first. */
  shape: number[];
  /** The width before the kernel's fixed random projection (null when x is the layer's own width). */
  projectedFrom: number | null;
  /** The capture cadence in steps when this frame was taken (stretched by a budget); null for log(). */
  every: number | null;
}
