// Starts the reduction Web Worker from source inlined in the bundle: anywidget loads the widget
// from a blob: URL, so no worker file can be fetched beside it. Falls back to the main thread.
import workerSource from "../../build/worker.js?raw";
import { mainThreadPort, type PortFactory } from "./client.ts";
import type { WorkerReply } from "../worker/protocol.ts";

/** How long the worker's Blob URL lives: long enough for the worker to load it. */
const REVOKE_URL_AFTER_MS = 10_000;

export const startWorkerPort: PortFactory = (onReply, onFailure) => {
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
    setTimeout(() => URL.revokeObjectURL(url), REVOKE_URL_AFTER_MS);
    return { port: { post: (msg, transfer) => worker.postMessage(msg, transfer), close: () => worker.terminate() }, inWorker: true };
  } catch {
    return { port: mainThreadPort(onReply), inWorker: false };
  }
};
