// anywidget entry: per-model state is set up in `initialize` (so frames that arrive before any view
// are kept), each `render` builds one view and says hello to the kernel, which replays what it
// missed. `mountPage` is the typed entry of the standalone HTML export (python/sentrycam/html.py).
import type { Initialize, Render } from "@anywidget/types";
import { createState, handleMessage, modelState, sendToKernel } from "./model-state.ts";
import { MonitorView } from "./view/monitor-view.ts";
import { startWorkerPort } from "./reduction/worker-port.ts";
import { PROTOCOL_VERSION, VERSION, type ReduceMethod } from "./contract.ts";
import type { Traits, WidgetModel } from "./model.ts";
import type { Alert, TaskBoundary } from "./transport/messages.ts";
import { base64Bytes } from "./transport/base64.ts";

let viewCounter = 0;

const initialize: Initialize<Traits> = ({ model, signal }) => {
  modelState(model, startWorkerPort, signal);
};

const render: Render<Traits> = ({ model, el, signal }) => {
  const state = modelState(model, startWorkerPort);
  new MonitorView(model, state, el, signal);
  const id = `${Date.now().toString(36)}-${++viewCounter}`;
  // Ranges, not just the last seq: frames sent while the bundle was still loading are refilled.
  sendToKernel(model, { type: "hello", view: id, have: state.store.haveRanges(), protocol: PROTOCOL_VERSION });
  signal.addEventListener("abort", () => sendToKernel(model, { type: "bye", view: id }));
};

export default { initialize, render };

/** What the exported page carries (written by python/sentrycam/html.py). */
export interface PageData {
  /** Arrow IPC frames, base64. */
  frames: string[];
  alerts: Alert[];
  tasks: TaskBoundary[];
  layers: string[];
  reducer: ReduceMethod;
  class_names: string[];
  version: string;
}

/** Show `data` in `el` with no kernel: the same view, fed as the kernel would feed it. */
export function mountPage(el: HTMLElement, data: PageData): void {
  if (data.version !== VERSION) console.warn(`sentrycam page written by ${data.version}, shown by ${VERSION}`);
  const traits: Traits = { _uid: "page", layers: data.layers, reducer: data.reducer, class_names: data.class_names, selection: [] };
  const handlers = new Map<string, Set<() => void>>();
  const model = {
    get: <K extends keyof Traits>(key: K): Traits[K] => traits[key],
    set: <K extends keyof Traits>(key: K, value: Traits[K]) => {
      traits[key] = value;
      for (const f of handlers.get(`change:${key}`) ?? []) f();
    },
    save_changes() {},
    on: (name: string, f: () => void) => handlers.set(name, (handlers.get(name) ?? new Set()).add(f)),
    off: (name?: string | null, f?: () => void) => {
      if (name && f) handlers.get(name)?.delete(f);
    },
    send() {},
    widget_manager: null,
  } as unknown as WidgetModel;
  const state = createState(startWorkerPort);
  new MonitorView(model, state, el, new AbortController().signal);
  const bytes = (b64: string): DataView => new DataView(base64Bytes(b64).buffer);
  if (data.tasks.length) handleMessage(state, { type: "tasks", tasks: data.tasks }, []);
  handleMessage(state, { type: "frames", seqs: data.frames.map((_, i) => i) }, data.frames.map(bytes));
  if (data.alerts.length) handleMessage(state, { type: "alerts", alerts: data.alerts }, []);
}
