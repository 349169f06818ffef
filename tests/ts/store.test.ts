// The per-model message handling and frame store: de-duplication, ordering, bounds, corrupt buffers.
import test from "node:test";
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { makeFixtures, type Fixtures } from "./support/fixtures.ts";
import { FrameStore } from "../../src/store.ts";
import { createState, handleMessage } from "../../src/model-state.ts";
import type { Frame } from "../../src/transport/frame.ts";
import { metricSeries, scalarKeys, alertsFor } from "../../src/view/charts/series.ts";
import { incidentText } from "../../src/view/alert-list.ts";

function frame(seq: number, layer = "h", step = seq, n = 4, d = 2): Frame {
  return {
    seq, step, layer, n, d, ids: new Int32Array(n), labels: null, preds: null, groups: null, groupNames: [], tasks: [],
    x: new Float32Array(n * d), scalars: { loss: 1 / (step + 1) }, metrics: { fisher: step, cka_prev: NaN }, nonFinite: 0,
    pool: "none", shape: [n, d], projectedFrom: null, every: null,
  };
}

const state = () => createState();

test("the store de-duplicates replays and keeps each layer in seq order", () => {
  const store = new FrameStore();
  const events: number[] = [];
  store.subscribe((e) => e.kind === "frame" && events.push(e.frame.seq));
  for (const s of [0, 2, 1, 2, 0, 3]) store.add(frame(s));
  assert.deepEqual(store.frames("h").map((f) => f.seq), [0, 1, 2, 3]);
  assert.equal(store.received, 4);
  assert.deepEqual(events, [0, 2, 1, 3]);
  store.add(frame(7));
  store.add(frame(8));
  assert.deepEqual(store.haveRanges(), [[0, 3], [7, 8]]);
});

test("the store is bounded per layer and in bytes, keeping each layer's latest", () => {
  const store = new FrameStore(3, 10_000);
  for (let s = 0; s < 10; s++) store.add(frame(s, s % 2 ? "a" : "b"));
  assert.deepEqual(store.frames("a").map((f) => f.seq), [5, 7, 9]);
  assert.equal(store.received, 10);
  const small = new FrameStore(100, 100);
  for (let s = 0; s < 10; s++) small.add(frame(s, s < 5 ? "a" : "b", s, 4, 2)); // 32 bytes each
  assert.equal(small.latest("a")?.seq, 4);
  assert.equal(small.latest("b")?.seq, 9);
  assert.ok(small.frames("a").length + small.frames("b").length <= 4);
});

let fixtures: Fixtures;
before(() => {
  fixtures = makeFixtures();
});
after(() => fixtures.remove());

test("a corrupt buffer is reported and the frames around it are still stored", () => {
  const s = state();
  const good = fixtures.read("frame_f32.arrows");
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const garbage = new Uint8Array(300).fill(42);
  handleMessage(s, { type: "frames", seqs: [99, 7] }, [view(garbage), view(new Uint8Array(good))]);
  assert.equal(s.store.received, 1);
  assert.equal(s.store.latest("fc1")?.step, 40);
  assert.equal(s.store.errors.length, 1);
  assert.match(s.store.errors[0], /frame 99 could not be decoded/);
});

test("alerts are de-duplicated and listeners get only the new ones", () => {
  const s = state();
  const got: number[] = [];
  s.alertListeners.add((fresh) => got.push(fresh.length));
  const a = { step: 5, layer: "h", metric: "fisher", message: "dropped", severity: "warning" };
  handleMessage(s, { type: "alerts", alerts: [a] }, []);
  handleMessage(s, { type: "alerts", alerts: [a, { ...a, step: 6 }] }, []);
  assert.equal(s.alerts.length, 2);
  assert.deepEqual(got, [1, 1]);
});

test("an alert whose incident grew is updated in place, with no new-alert notice", () => {
  const s = state();
  const got: number[] = [];
  s.alertListeners.add((fresh) => got.push(fresh.length));
  const evidence = (joined: number) => ({
    steps: [], values: [], reference: 1, spread: 0.1, threshold: 2, window: null, direction: 1 as const, kind: "jump",
    incident: { first_step: 5, joined, also: joined ? [{ step: 9, layer: "g", metric: "eff_rank", rule: "robust", severity: "warning" }] : [] },
  });
  const a = { step: 5, layer: "h", metric: "fisher", message: "dropped", severity: "warning", rule: "robust" };
  handleMessage(s, { type: "alerts", alerts: [{ ...a, evidence: evidence(0) }] }, []);
  handleMessage(s, { type: "alerts", alerts: [{ ...a, evidence: evidence(1) }] }, []);
  assert.equal(s.alerts.length, 1);
  assert.deepEqual(got, [1, 0], "the second call re-renders and tells no new alert");
  assert.match(incidentText(s.alerts[0]), /one incident with 1 more: g eff_rank at 9/);
  assert.equal(incidentText({ ...a }), "");
});

test("metric series follow steps and turn non-finite values into gaps", () => {
  const frames = [frame(2, "h", 20), frame(0, "h", 0), frame(1, "h", 10)];
  const [fisher, cka] = metricSeries(frames, ["fisher", "cka_prev"], "metrics");
  assert.deepEqual(fisher.steps, [0, 10, 20]);
  assert.deepEqual(fisher.values, [0, 10, 20]);
  assert.deepEqual(cka.values, [null, null, null]);
  assert.deepEqual(scalarKeys(frames), ["loss"]);
  const alerts = [
    { step: 1, layer: "h", metric: "m", message: "", severity: "warning" },
    { step: 2, layer: "g", metric: "m", message: "", severity: "warning" },
    { step: 3, layer: null, metric: "loss", message: "", severity: "warning" },
  ];
  assert.deepEqual(alertsFor(alerts, "h").map((a) => a.step), [1, 3]);
});

test("a warning notice is marked as a problem; an info notice (a followed run's status) is not", () => {
  const s = state();
  const told: string[] = [];
  s.noticeListeners.add((text) => told.push(text));
  handleMessage(s, { type: "notice", level: "warning", text: "recording failed" }, []);
  handleMessage(s, { type: "notice", level: "info", text: "the run ended: 60 frames" }, []);
  assert.deepEqual(s.notices, ["⚠ recording failed", "the run ended: 60 frames"]);
  assert.deepEqual(told, s.notices);
});

test("task boundaries come from the tasks message or from the frames, sorted, listeners told once", () => {
  const s = state();
  const told: number[] = [];
  s.taskListeners.add((tasks) => told.push(tasks.length));
  handleMessage(s, { type: "tasks", tasks: [{ step: 300, name: "5-9" }, { step: 0, name: "0-4" }] }, []);
  assert.deepEqual(s.tasks.map((t) => t.step), [0, 300]);
  handleMessage(s, { type: "tasks", tasks: [{ step: 0, name: "0-4" }, { step: 300, name: "5-9" }] }, []);
  assert.deepEqual(told, [2], "the same boundaries again tell nobody");
});
