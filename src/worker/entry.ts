/**
 * The reduction worker's entry (webpack's worker build starts here): one LayerReducer per (layer,
 * method), kept across messages, and the one-off calls (calls.ts) with their own state.
 * `handleMessage` is pure apart from that state and is tested in Node; the main-thread fallback
 * (reduction/client.ts) runs the same handler; the `self.onmessage` hook is installed only when
 * this module runs in a Web Worker.
 */
import { LayerReducer } from "../reduce/pipeline.ts";
import { createCalls, type WorkerCalls } from "./calls.ts";
import type { CallReply, CallRequest, ErrorReply, ProgressReply, ReduceRequest, ResultReply, WorkerReply, WorkerRequest } from "./protocol.ts";

export interface WorkerState {
  reducers: Map<string, LayerReducer>;
  calls: WorkerCalls;
  /** Minimum milliseconds between progress messages of one request. */
  progressIntervalMs: number;
}

/** Progress messages of one request at most this often: enough for a moving bar, few messages. */
export const PROGRESS_INTERVAL_MS = 100;

export function createWorkerState(): WorkerState {
  return { reducers: new Map(), calls: createCalls(), progressIntervalMs: PROGRESS_INTERVAL_MS };
}

const key = (layer: string, method: string): string => `${method}\u0000${layer}`;

const clock = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Handle one request. Progress messages go to `emit` (throttled); the returned reply is the
 * result or error of a "reduce" request, or what a "call" returned.
 */
export function handleMessage(state: WorkerState, msg: WorkerRequest, emit?: (p: ProgressReply) => void): WorkerReply | null {
  if (msg.type === "reduce") return reduce(state, msg, emit);
  if (msg.type === "call") return call(state.calls, msg);
  return null;
}

function reduce(state: WorkerState, msg: ReduceRequest, emit?: (p: ProgressReply) => void): ResultReply | ErrorReply {
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
    return { type: "result", id, layer, seq, ...reducer.reduce(msg.x, msg.n, msg.d, { seq, warmFrom: msg.warmFrom ?? undefined, labels: msg.labels, onProgress }) };
  } catch (err) {
    return { type: "error", id, layer, seq, message: messageOf(err) };
  }
}

function call(calls: WorkerCalls, msg: CallRequest): CallReply {
  try {
    const fn = calls[msg.name] as (...args: unknown[]) => ReturnType<WorkerCalls[typeof msg.name]>;
    if (typeof fn !== "function") throw new Error(`no worker function "${String(msg.name)}"`);
    return { type: "return", id: msg.id, ok: true, value: fn(...(msg.args as unknown[])) };
  } catch (err) {
    return { type: "return", id: msg.id, ok: false, message: messageOf(err) };
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
