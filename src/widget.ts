// anywidget entry: per-model state is set up in `initialize` (so frames that arrive before any view
// are kept), each `render` builds one view and says hello to the kernel, which replays what it missed.
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import { modelState } from "./model-state.ts";
import { MonitorView } from "./view/monitor-view.ts";

let viewCounter = 0;

const initialize: Initialize = ({ model, signal }) => {
  modelState(model as AnyModel, signal);
};

const render: Render = ({ model, el, signal }) => {
  const state = modelState(model);
  const view = new MonitorView(model, state, el, signal);
  const id = `${Date.now().toString(36)}-${++viewCounter}`;
  // Ranges, not just the last seq: frames sent while the bundle was still loading are refilled.
  model.send({ type: "hello", view: id, have: state.store.haveRanges() });
  signal.addEventListener("abort", () => model.send({ type: "bye", view: id }));
  void view;
};

export default { initialize, render };
