// What a live view redraws: a drawing equal to the one queued last is not drawn again (a frame that
// arrives while the worker reduces it composes the panels already on screen), and the metric
// charts redraw only when what they show changed. Timings live in bench/browser.ts.
import test from "node:test";
import assert from "node:assert/strict";
import { sameDrawing } from "../../src/view/drawing.ts";
import type { Panel, PanelStyle } from "../../src/view/scatter.ts";
import { chartKey } from "../../src/view/charts/series.ts";
import type { Frame } from "../../src/transport/frame.ts";
import type { Alert } from "../../src/transport/messages.ts";

function frame(seq: number, n = 4): Frame {
  return {
    seq, step: seq * 10, layer: "h", n, d: 1, ids: Int32Array.from({ length: n }, (_, i) => i), labels: new Int32Array(n), preds: null,
    groups: null, groupNames: [], tasks: [], x: new Float32Array(n), scalars: {}, metrics: {},
    nonFinite: 0, pool: "none", shape: [n, 1], projectedFrom: null, every: null,
  };
}

const style: PanelStyle = { colorBy: "label", classNames: [], markWrong: false };

function panel(f: Frame, xy: Float32Array, extra: Partial<Panel> = {}): Panel {
  return { frame: f, xy, method: "umap", title: `h · step ${f.step}`, regions: null, trails: null, selectedRows: new Int32Array(0), moverRows: null, ...extra };
}

test("the same frame, positions and extras composed again is the same drawing", () => {
  const f = frame(1);
  const xy = new Float32Array(8);
  const a = { panels: [panel(f, xy)], style };
  // Rows and trails are rebuilt on every compose: equal values count as the same.
  const b = {
    panels: [panel(f, xy, { selectedRows: new Int32Array(0) })],
    style: { ...style, classNames: [] },
  };
  assert.equal(sameDrawing(a, b), true);
  const trails = { x: Float64Array.from([1, NaN]), y: Float64Array.from([2, NaN]) };
  assert.equal(sameDrawing({ panels: [panel(f, xy, { trails })], style }, { panels: [panel(f, xy, { trails: { x: trails.x.slice(), y: trails.y.slice() } })], style }), true);
});

test("anything that changes what is drawn is a new drawing", () => {
  const f = frame(1);
  const xy = new Float32Array(8);
  const a = { panels: [panel(f, xy)], style };
  assert.equal(sameDrawing(null, a), false);
  assert.equal(sameDrawing(a, { panels: [panel(frame(2), xy)], style }), false, "another frame");
  assert.equal(sameDrawing(a, { panels: [panel(f, new Float32Array(8))], style }), false, "another layout of the frame");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy, { method: "pca" })], style }), false, "another reducer");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy, { selectedRows: Int32Array.from([2]) })], style }), false, "a selection");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy, { moverRows: Int32Array.from([1]) })], style }), false, "movers");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy, { trails: { x: new Float64Array(2), y: new Float64Array(2) } })], style }), false, "trails");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy), panel(f, xy)], style }), false, "another panel");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy)], style: { ...style, colorBy: "pred" } }), false, "colouring");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy)], style: { ...style, markWrong: true } }), false, "wrong marks");
  assert.equal(sameDrawing(a, { panels: [panel(f, xy)], style: { ...style, classNames: ["cat"] } }), false, "class names");
});

test("the charts' key changes with the frames, the layer's alerts, the tasks and the shown step, and only then", () => {
  const frames = [frame(1), frame(2)];
  const alert = (step: number, layer: string | null): Alert => ({ step, layer, metric: "m", severity: "warning", message: "" });
  const key = chartKey(frames, [], [], "h", 20);
  assert.equal(chartKey([...frames], [], [], "h", 20), key, "the same frames again");
  assert.notEqual(chartKey([...frames, frame(3)], [], [], "h", 20), key, "a new frame");
  assert.notEqual(chartKey([frame(2), frame(3)], [], [], "h", 20), key, "the oldest trimmed, a new one added");
  assert.notEqual(chartKey(frames, [alert(10, "h")], [], "h", 20), key, "an alert of the layer");
  assert.equal(chartKey(frames, [alert(10, "other")], [], "h", 20), key, "an alert of another layer");
  assert.notEqual(chartKey(frames, [], [{ step: 10, name: "B" }], "h", 20), key, "a task boundary");
  assert.notEqual(chartKey(frames, [], [], "h", 10), key, "another step shown");
  assert.notEqual(chartKey(frames, [], [], "g", 20), key, "another layer");
});
