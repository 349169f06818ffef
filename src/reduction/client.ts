// Main-thread side of the reduction pipeline: talks to the worker through a Port (a Web Worker, or
// the same code on the main thread where a host forbids workers or the worker dies) and coalesces
// requests per (layer, method): while one frame is being reduced, only the latest waiting frame is
// kept. One-off computations go through `call`, typed from the worker's own functions.
import type { Frame } from "../transport/frame.ts";
import type { CallName, WorkerCalls } from "../worker/calls.ts";
import type { ReduceMethod } from "../contract.ts";
import type { CallReply, ResultReply, WorkerReply, WorkerRequest } from "../worker/protocol.ts";

/** A reduced frame as the main thread keeps it: the worker's reply without the message's tags. */
export type Reduced = Omit<ResultReply, "type" | "id">;

export interface ReductionEvents {
  result(r: Reduced): void;
  progress(layer: string, fraction: number, stage: string): void;
  error(layer: string, seq: number, message: string): void;
}

/** Where requests go: a worker or the main-thread fallback. */
export interface Port {
  post(msg: WorkerRequest, transfer: Transferable[]): void;
  close(): void;
}

/** The reduced frames (seqs) `frame` may warm-start from, nearest first (reduction/warm-source.ts). */
export type WarmSources = (frame: Frame, method: ReduceMethod) => number[];

/** Starts a port; `inWorker` says whether it is a real worker. */
export type PortFactory = (onReply: (r: WorkerReply) => void, onFailure: (message: string) => void) => { port: Port; inWorker: boolean };

/** Fallback for hosts that forbid workers: the same handler, one request per macrotask. */
export function mainThreadPort(onReply: (reply: WorkerReply) => void): Port {
  let closed = false;
  let handlerPromise: Promise<(msg: WorkerRequest, reply: (r: WorkerReply) => void) => void> | null = null;
  return {
    post(msg) {
      handlerPromise ??= import("../worker/entry.ts").then((m) => m.createHandler());
      void handlerPromise.then((handle) =>
        setTimeout(() => {
          if (!closed) handle(msg, onReply);
        }, 0),
      );
    },
    close() {
      closed = true;
    },
  };
}

type Pending = { frame: Frame; method: ReduceMethod };
type Waiter = { request: WorkerRequest; resolve(value: unknown): void; reject(err: Error): void };

const slot = (layer: string, method: string): string => `${method}\u0000${layer}`;

export class ReductionClient {
  private port: Port;
  private nextId = 1;
  private readonly busy = new Map<string, number>(); // slot -> request id in flight
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting = new Map<string, Pending>();
  private readonly calls = new Map<number, Waiter>();
  inWorker: boolean;

  constructor(
    private readonly events: ReductionEvents,
    start: PortFactory = (onReply) => ({ port: mainThreadPort(onReply), inWorker: false }),
    /** Where each frame may start from; without it, from the frame reduced last (frames sent in order). */
    private readonly sources?: WarmSources,
  ) {
    const started = start((reply) => this.onReply(reply), (message) => this.workerFailed(message));
    this.port = started.port;
    this.inWorker = started.inWorker;
  }

  /** Ask for `frame` reduced with `method`; if that slot is busy it waits, replacing an older wait. */
  request(frame: Frame, method: ReduceMethod): void {
    const s = slot(frame.layer, method);
    const busy = this.busy.get(s);
    if (busy !== undefined) {
      // The same frame asked for again while it is reduced (a redraw): its result is on its way.
      if (this.inFlight.get(busy)?.frame.seq !== frame.seq) this.waiting.set(s, { frame, method });
      return;
    }
    this.send(frame, method);
  }

  /** Run one of the worker's functions (worker/calls.ts) with `args`. */
  call<K extends CallName>(name: K, ...args: Parameters<WorkerCalls[K]>): Promise<ReturnType<WorkerCalls[K]>> {
    const id = this.nextId++;
    const request: WorkerRequest = { type: "call", id, name, args } as WorkerRequest;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { request, resolve: resolve as (v: unknown) => void, reject });
      this.port.post(request, []);
    });
  }

  /** True while a frame of `layer` is being reduced (with any method). */
  isBusy(layer: string): boolean {
    for (const { frame } of this.inFlight.values()) if (frame.layer === layer) return true;
    return false;
  }

  close(): void {
    this.port.close();
    for (const w of this.calls.values()) w.reject(new Error("the reduction was closed"));
    this.calls.clear();
  }

  /** The worker could not start or crashed: carry on on the main thread, re-sending what was lost. */
  private workerFailed(message: string): void {
    if (!this.inWorker) return;
    this.port.close();
    this.port = mainThreadPort((reply) => this.onReply(reply));
    this.inWorker = false;
    const lost = [...this.inFlight.values()];
    this.inFlight.clear();
    this.busy.clear();
    for (const { frame } of lost) {
      this.events.error(frame.layer, frame.seq, `the reduction worker failed (${message}); reducing on the main thread`);
    }
    for (const { frame, method } of lost) this.request(frame, method);
    for (const w of this.calls.values()) this.port.post(w.request, []);
  }

  private send(frame: Frame, method: ReduceMethod): void {
    const id = this.nextId++;
    this.busy.set(slot(frame.layer, method), id);
    this.inFlight.set(id, { frame, method });
    // Copies: the frame's columns view the comm buffer the store keeps; the copies are transferred.
    const x = frame.x.slice();
    const labels = frame.labels?.slice() ?? null;
    const warmFrom = this.sources?.(frame, method) ?? null;
    const transfer: Transferable[] = labels === null ? [x.buffer] : [x.buffer, labels.buffer];
    this.port.post({ type: "reduce", id, layer: frame.layer, method, x, n: frame.n, d: frame.d, seq: frame.seq, warmFrom, labels }, transfer);
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type === "progress") {
      this.events.progress(reply.layer, reply.fraction, reply.stage);
      return;
    }
    if (reply.type === "return") {
      this.settleCall(reply);
      return;
    }
    const pending = this.inFlight.get(reply.id);
    this.inFlight.delete(reply.id);
    const method = pending?.method ?? (reply.type === "result" ? reply.method : "umap");
    const s = slot(reply.layer, method);
    if (this.busy.get(s) === reply.id) this.busy.delete(s);
    if (reply.type === "result") {
      const { type: _type, id: _id, ...reduced } = reply;
      this.events.result(reduced);
    } else {
      this.events.error(reply.layer, reply.seq, reply.message);
    }
    const next = this.waiting.get(s);
    if (next !== undefined && !this.busy.has(s)) {
      this.waiting.delete(s);
      this.send(next.frame, next.method);
    }
  }

  private settleCall(reply: CallReply): void {
    const waiter = this.calls.get(reply.id);
    if (waiter === undefined) return;
    this.calls.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new Error(reply.message));
  }
}
