/**
 * Worker side of the reduction pipeline: one LayerReducer per (layer, method), kept across
 * messages. `handleMessage` is pure apart from that state and is tested in Node; the
 * `self.onmessage` hook is installed only when this module runs inside a Web Worker.
 */
import { LayerReducer } from "./pipeline.ts";
import type { ProgressReply, ResultReply, ErrorReply, WorkerReply, WorkerRequest } from "./protocol.ts";

export interface WorkerState {
  reducers: Map<string, LayerReducer>;
  /** Minimum milliseconds between progress messages of one request (default 100). */
  progressIntervalMs: number;
}

export function createWorkerState(): WorkerState {
  return { reducers: new Map(), progressIntervalMs: 100 };
}

const key = (layer: string, method: string): string => `${method}\u0000${layer}`;

const clock = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

/**
 * Handle one request. Progress messages go to `emit` (throttled); the returned reply is the
 * result or error of a "reduce" request, and null for "reset" or unknown messages.
 */
export function handleMessage(
  state: WorkerState, msg: WorkerRequest, emit?: (p: ProgressReply) => void,
): ResultReply | ErrorReply | null {
  if (msg.type === "reset") {
    if (msg.layer === undefined) state.reducers.clear();
    else for (const m of ["umap", "pca"]) state.reducers.delete(key(msg.layer, m));
    return null;
  }
  if (msg.type !== "reduce") return null;
  const { id, layer, seq } = msg;
  try {
    const k = key(layer, msg.method);
    let reducer = state.reducers.get(k);
    if (!reducer) {
      reducer = new LayerReducer({ method: msg.method });
      state.reducers.set(k, reducer);
    }
    let last = -Infinity;
    const onProgress = emit
      ? (fraction: number, stage: string): void => {
          const t = clock();
          if (fraction < 1 && t - last < state.progressIntervalMs) return;
          last = t;
          emit({ type: "progress", id, layer, fraction, stage });
        }
      : undefined;
    const r = reducer.reduce(msg.x, msg.n, msg.d, onProgress);
    return { type: "result", id, layer, seq, xy: r.xy, cold: r.cold, notes: r.notes, excluded: r.excluded, ms: r.ms, method: r.method };
  } catch (err) {
    return { type: "error", id, layer, seq, message: err instanceof Error ? err.message : String(err) };
  }
}

/** A stateful handler `(msg, reply) => void` for the main-thread fallback and the worker hook. */
export function createHandler(): (msg: WorkerRequest, reply: (r: WorkerReply) => void) => void {
  const state = createWorkerState();
  return (msg, reply) => {
    const out = handleMessage(state, msg, reply);
    // The reducer keeps `xy` as the next frame's warm start: the reply owns a copy, which the
    // worker may transfer (a transferred original would be detached and read as "no position").
    if (out) reply(out.type === "result" ? { ...out, xy: out.xy.slice() } : out);
  };
}

if (
  typeof self !== "undefined" &&
  typeof (self as unknown as { postMessage?: unknown }).postMessage === "function" &&
  typeof window === "undefined"
) {
  const scope = self as unknown as {
    onmessage: ((ev: MessageEvent<WorkerRequest>) => void) | null;
    postMessage(msg: WorkerReply, transfer?: Transferable[]): void;
  };
  const handle = createHandler();
  scope.onmessage = (ev) => {
    handle(ev.data, (r) => {
      if (r.type === "result") scope.postMessage(r, [r.xy.buffer as ArrayBuffer]);
      else scope.postMessage(r);
    });
  };
}
