// Per-model state shared by every view of one monitor: the frame store, alerts, notices, task
// boundaries and the one reduction (worker, warm state, result cache). Frames arrive as binary
// buffers of custom messages; they are stored even before any view exists.
import { decodeFrame } from "./transport/decode.ts";
import { FrameStore } from "./store.ts";
import { SharedReduction } from "./reduction/shared.ts";
import type { PortFactory } from "./reduction/client.ts";
import type { Alert, KernelMessage, TaskBoundary, ViewMessage } from "./transport/messages.ts";
import type { ImageFormat } from "./contract.ts";
import type { WidgetModel } from "./model.ts";
import { announce, originOf, type Origin } from "./announce.ts";

export interface ModelState {
  /** Where this monitor's alerts come from (told to the page with each new alert). */
  origin: Origin | null;
  store: FrameStore;
  alerts: Alert[];
  notices: string[];
  /** Task boundaries, from the kernel's `tasks` message or the frames' metadata, by step. */
  tasks: TaskBoundary[];
  reduction: SharedReduction;
  alertListeners: Set<(alerts: Alert[]) => void>;
  noticeListeners: Set<(text: string) => void>;
  taskListeners: Set<(tasks: TaskBoundary[]) => void>;
  snapshotHandlers: Set<(id: number, format: ImageFormat) => void>;
}

const states = new Map<string, ModelState>();

/** A fresh state (no kernel attached): for tests, the exported page and `modelState`. */
export function createState(start?: PortFactory): ModelState {
  const store = new FrameStore();
  return {
    origin: null,
    store,
    alerts: [],
    notices: [],
    tasks: [],
    reduction: new SharedReduction(start, (layer) => store.frames(layer)),
    alertListeners: new Set(),
    noticeListeners: new Set(),
    taskListeners: new Set(),
    snapshotHandlers: new Set(),
  };
}

/** The state of `model`, created (and subscribed to the kernel's messages) on first use. */
export function modelState(model: WidgetModel, start?: PortFactory, signal?: AbortSignal): ModelState {
  const key = model.get("_uid");
  let state = states.get(key);
  if (state !== undefined) return state;
  const s = createState(start);
  s.origin = originOf(model);
  states.set(key, s);
  const onMessage = (msg: KernelMessage, buffers: DataView[]) => handleMessage(s, msg, buffers);
  model.on("msg:custom", onMessage);
  signal?.addEventListener("abort", () => {
    model.off("msg:custom", onMessage);
    s.reduction.close();
    states.delete(key);
  });
  return s;
}

/** Send one message to the kernel (typed: anywidget's `send` takes anything). */
export function sendToKernel(model: WidgetModel, msg: ViewMessage, buffers?: ArrayBuffer[]): void {
  model.send(msg, undefined, buffers);
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
          const frame = decodeFrame(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
          // Frames carry the boundaries too: a recording or exported page has no tasks message.
          if (frame.tasks.length > state.tasks.length) setTasks(state, frame.tasks);
          state.store.add(frame);
        } catch (err) {
          const seq = msg.seqs[i] ?? "?";
          state.store.reportError(`frame ${seq} could not be decoded: ${(err as Error).message}`);
        }
      });
      break;
    case "alerts": {
      // A known alert comes again when its incident grew: its evidence is replaced.
      const known = new Map(state.alerts.map((a) => [alertKey(a), a]));
      const fresh: Alert[] = [];
      let grown = false;
      for (const a of msg.alerts) {
        const had = known.get(alertKey(a));
        if (had === undefined) fresh.push(a);
        else if (a.evidence !== undefined) {
          had.evidence = a.evidence;
          grown = true;
        }
      }
      if (fresh.length === 0 && !grown) break;
      state.alerts.push(...fresh);
      if (state.origin !== null && fresh.length > 0) announce(state.origin, fresh);
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
    case "tasks":
      setTasks(state, msg.tasks);
      break;
    case "snapshot":
      // Only the first view answers; the kernel ignores duplicates anyway.
      for (const fn of state.snapshotHandlers) {
        fn(msg.id, msg.format);
        break;
      }
      break;
  }
}

function setTasks(state: ModelState, tasks: TaskBoundary[]): void {
  const next = [...tasks].sort((a, b) => a.step - b.step);
  const same = next.length === state.tasks.length && next.every((t, i) => t.step === state.tasks[i].step && t.name === state.tasks[i].name);
  if (same) return;
  state.tasks = next;
  for (const fn of state.taskListeners) fn(next);
}

function alertKey(a: Alert): string {
  return `${a.step}|${a.layer}|${a.metric}|${a.rule ?? ""}|${a.message}`;
}
