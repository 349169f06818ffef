// Main-thread side of the reduction pipeline: starts the Web Worker from source inlined in the
// bundle (anywidget loads us from a blob: URL, so no worker file can be fetched beside it), falls
// back to running on the main thread where a host forbids workers, and coalesces requests per
// layer: while one frame of a layer is being reduced, only the latest waiting frame is kept.
import workerSource from "../build/worker.js?raw";
import type { Frame } from "./transport/frame.ts";
import type { ReduceMethod, WorkerReply, WorkerRequest } from "./reduce/protocol.ts";

export interface Reduced {
  layer: string;
  seq: number;
  method: ReduceMethod;
  xy: Float32Array;
  cold: boolean;
  notes: string[];
  excluded: number;
  ms: number;
}

export interface ReductionEvents {
  result(r: Reduced): void;
  progress(layer: string, fraction: number, stage: string): void;
  error(layer: string, seq: number, message: string): void;
}

type Port = { post(msg: WorkerRequest, transfer: Transferable[]): void; close(): void };

export class ReductionClient {
  private port: Port;
  private nextId = 1;
  private readonly busy = new Map<string, number>(); // layer -> request id in flight
  private readonly inFlight = new Map<number, { frame: Frame; method: ReduceMethod }>();
  private readonly waiting = new Map<string, { frame: Frame; method: ReduceMethod }>();
  inWorker: boolean;

  constructor(private readonly events: ReductionEvents) {
    const [port, inWorker] = startWorker(
      (reply) => this.onReply(reply),
      (message) => this.workerFailed(message),
    );
    this.port = port;
    this.inWorker = inWorker;
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
  }

  /** Ask for `frame` reduced with `method`; if the layer is busy it waits, replacing any older wait. */
  request(frame: Frame, method: ReduceMethod): void {
    if (this.busy.has(frame.layer)) {
      this.waiting.set(frame.layer, { frame, method });
      return;
    }
    this.send(frame, method);
  }

  /** True while a frame of `layer` is being reduced. */
  isBusy(layer: string): boolean {
    return this.busy.has(layer);
  }

  close(): void {
    this.port.close();
  }

  private send(frame: Frame, method: ReduceMethod): void {
    const id = this.nextId++;
    this.busy.set(frame.layer, id);
    this.inFlight.set(id, { frame, method });
    // Copy: the frame's values view the comm buffer the store keeps; the copy is transferred.
    const x = frame.x.slice();
    this.port.post(
      { type: "reduce", id, layer: frame.layer, method, x, n: frame.n, d: frame.d, seq: frame.seq },
      [x.buffer],
    );
  }

  private onReply(reply: WorkerReply): void {
    if (reply.type === "progress") {
      this.events.progress(reply.layer, reply.fraction, reply.stage);
      return;
    }
    this.inFlight.delete(reply.id);
    if (this.busy.get(reply.layer) === reply.id) this.busy.delete(reply.layer);
    if (reply.type === "result") {
      this.events.result({
        layer: reply.layer,
        seq: reply.seq,
        method: reply.method,
        xy: reply.xy,
        cold: reply.cold,
        notes: reply.notes,
        excluded: reply.excluded,
        ms: reply.ms,
      });
    } else if (reply.type === "error") {
      this.events.error(reply.layer, reply.seq, reply.message);
    }
    const next = this.waiting.get(reply.layer);
    if (next !== undefined && !this.busy.has(reply.layer)) {
      this.waiting.delete(reply.layer);
      this.send(next.frame, next.method);
    }
  }
}

function startWorker(onReply: (reply: WorkerReply) => void, onFailure: (message: string) => void): [Port, boolean] {
  try {
    const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
    const worker = new Worker(url);
    worker.onmessage = (ev: MessageEvent<WorkerReply>) => onReply(ev.data);
    // Loading can fail later (a host's content policy) and a worker can crash (out of memory).
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      onFailure(ev.message || "worker error");
    };
    worker.onmessageerror = () => onFailure("a message could not be read");
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return [
      {
        post: (msg, transfer) => worker.postMessage(msg, transfer),
        close: () => worker.terminate(),
      },
      true,
    ];
  } catch {
    return [mainThreadPort(onReply), false];
  }
}

/** Fallback for hosts that forbid workers: the same pipeline, one request per macrotask. */
function mainThreadPort(onReply: (reply: WorkerReply) => void): Port {
  let closed = false;
  let handlerPromise: Promise<(msg: WorkerRequest, reply: (r: WorkerReply) => void) => void> | null = null;
  return {
    post(msg) {
      handlerPromise ??= import("./reduce/worker.ts").then((m) => m.createHandler());
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
