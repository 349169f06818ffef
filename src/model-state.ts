// Per-model state shared by every view of one monitor: the frame store and the alert list. Frames
// arrive as binary buffers of custom messages; they are stored even before any view exists.
import type { AnyModel } from "@anywidget/types";
import { decodeFrame } from "./transport/decode.ts";
import { FrameStore } from "./store.ts";
import type { Alert, KernelMessage } from "./transport/messages.ts";

export interface ModelState {
  store: FrameStore;
  alerts: Alert[];
  notices: string[];
  alertListeners: Set<(alerts: Alert[]) => void>;
  noticeListeners: Set<(text: string) => void>;
  snapshotHandlers: Set<(id: number, format: "png" | "svg") => void>;
}

const states = new Map<string, ModelState>();

/** The state of `model`, created (and subscribed to the kernel's messages) on first use. */
export function modelState(model: AnyModel, signal?: AbortSignal): ModelState {
  const key = String(model.get("_uid"));
  let state = states.get(key);
  if (state !== undefined) return state;
  state = {
    store: new FrameStore(),
    alerts: [],
    notices: [],
    alertListeners: new Set(),
    noticeListeners: new Set(),
    snapshotHandlers: new Set(),
  };
  const s = state;
  states.set(key, s);
  const onMessage = (msg: KernelMessage, buffers: DataView[]) => handleMessage(s, msg, buffers);
  model.on("msg:custom", onMessage);
  signal?.addEventListener("abort", () => {
    model.off("msg:custom", onMessage);
    states.delete(key);
  });
  return s;
}

export function handleMessage(state: ModelState, msg: KernelMessage, buffers: DataView[]): void {
  switch (msg.type) {
    case "frames":
      if (buffers.length !== msg.seqs.length) {
        state.store.reportError(
          `${msg.seqs.length} frame(s) arrived with ${buffers.length} binary buffer(s): this host dropped the frames' data`,
        );
      }
      buffers.forEach((buf, i) => {
        try {
          state.store.add(decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)));
        } catch (err) {
          const seq = msg.seqs[i] ?? "?";
          state.store.reportError(`frame ${seq} could not be decoded: ${(err as Error).message}`);
        }
      });
      break;
    case "alerts": {
      const known = new Set(state.alerts.map(alertKey));
      const fresh = msg.alerts.filter((a) => !known.has(alertKey(a)));
      if (fresh.length === 0) break;
      state.alerts.push(...fresh);
      for (const fn of state.alertListeners) fn(fresh);
      break;
    }
    case "notice": {
      // A warning is a problem the kernel worked around; "info" tells where things stand.
      const text = msg.level === "info" ? msg.text : `⚠ ${msg.text}`;
      state.notices.push(text);
      for (const fn of state.noticeListeners) fn(text);
      break;
    }
    case "snapshot":
      // Only the first view answers; the kernel ignores duplicates anyway.
      for (const fn of state.snapshotHandlers) {
        fn(msg.id, msg.format);
        break;
      }
      break;
  }
}

function alertKey(a: Alert): string {
  return `${a.step}|${a.layer}|${a.metric}|${a.rule ?? ""}|${a.message}`;
}
