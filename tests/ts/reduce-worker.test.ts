import test from "node:test";
import assert from "node:assert/strict";
import { createHandler, createWorkerState, handleMessage } from "../../src/worker/entry.ts";
import type { ProgressReply, WorkerReply } from "../../src/worker/protocol.ts";
import { clusters } from "../../bench/lib/synthetic.ts";

const { x } = clusters(300, 10, { seed: 3 });

test("reduce request → progress messages and a result; state kept per (layer, method)", () => {
  const state = createWorkerState();
  state.progressIntervalMs = 0;
  const progress: ProgressReply[] = [];
  const r1 = handleMessage(state, { type: "reduce", id: 1, layer: "fc1", method: "umap", x: x.slice(), n: 300, d: 10, seq: 7, warmFrom: null, labels: null }, (p) => progress.push(p));
  assert.ok(r1 && r1.type === "result");
  assert.equal(r1.seq, 7);
  assert.equal(r1.id, 1);
  assert.equal(r1.cold, true);
  assert.equal(r1.xy.length, 600);
  assert.ok(progress.length >= 3 && progress.every((p) => p.id === 1 && p.layer === "fc1"));
  assert.equal(progress[progress.length - 1].fraction, 1);
  const r2 = handleMessage(state, { type: "reduce", id: 2, layer: "fc1", method: "umap", x: x.slice(), n: 300, d: 10, seq: 8, warmFrom: null, labels: null });
  assert.ok(r2 && r2.type === "result" && r2.cold === false);
  // another layer and another method are independent
  const r3 = handleMessage(state, { type: "reduce", id: 3, layer: "fc2", method: "umap", x: x.slice(), n: 300, d: 10, seq: 9, warmFrom: null, labels: null });
  assert.ok(r3 && r3.type === "result" && r3.cold === true);
  const r4 = handleMessage(state, { type: "reduce", id: 4, layer: "fc1", method: "pca", x: x.slice(), n: 300, d: 10, seq: 10, warmFrom: null, labels: null });
  assert.ok(r4 && r4.type === "result" && r4.cold === true && r4.method === "pca");
  assert.equal(state.reducers.size, 3);
});

test("calls run the worker's functions by name; a throwing one replies ok: false", () => {
  const state = createWorkerState();
  const xy = new Float32Array([0, 0, 0.1, 0, 5, 5, 5.1, 5]);
  const preds = new Int32Array([0, 0, 1, 1]);
  const r = handleMessage(state, { type: "call", id: 1, name: "regions", args: [xy, preds, 4, { grid: 8 }] });
  assert.ok(r && r.type === "return" && r.ok);
  const regions = r.value as { classes: Int16Array; grid: number };
  assert.equal(regions.grid, 8);
  assert.equal(regions.classes[0], 0, "the bottom-left cell is class 0's");
  assert.equal(regions.classes[63], 1, "the top-right cell is class 1's");
  const bad = handleMessage(state, { type: "call", id: 2, name: "regions", args: [xy, new Int32Array(1), 4] });
  assert.ok(bad && bad.type === "return" && !bad.ok, "preds shorter than n: an error reply");
});

test("movers match samples by id: the same samples in another order moved nowhere", () => {
  const state = createWorkerState();
  const { x: x0 } = clusters(60, 4, { seed: 2 });
  const ids = Int32Array.from({ length: 60 }, (_, i) => i);
  const order = Int32Array.from({ length: 60 }, (_, i) => (i * 7) % 60); // a permutation
  const shuffled = new Float32Array(x0.length);
  order.forEach((from, to) => shuffled.set(x0.subarray(from * 4, from * 4 + 4), to * 4));
  // Move samples 3 and 5 far away in the second frame: they (and only they) change neighbourhoods.
  for (const id of [3, 5]) {
    const row = order.indexOf(id);
    for (let p = 0; p < 4; p++) shuffled[row * 4 + p] += 50 + id;
  }
  const r = handleMessage(state, { type: "call", id: 3, name: "movers", args: [{ seq: 1, ids, x: x0, n: 60, d: 4 }, { seq: 2, ids: order, x: shuffled, n: 60, d: 4 }, 2] });
  assert.ok(r && r.type === "return" && r.ok);
  const rows = r.value as Int32Array;
  assert.deepEqual([...rows].map((row) => order[row]).sort(), [3, 5]);
});

test("bad request → error reply, not an exception", () => {
  const state = createWorkerState();
  const r = handleMessage(state, { type: "reduce", id: 5, layer: "L", method: "umap", x: new Float32Array(3), n: 10, d: 10, seq: 1, warmFrom: null, labels: null });
  assert.ok(r && r.type === "error");
  assert.equal(r.seq, 1);
  assert.match(r.message, /expected n\*d/);
});

test("createHandler delivers progress then result through one callback", () => {
  const handle = createHandler();
  const replies: WorkerReply[] = [];
  handle({ type: "reduce", id: 9, layer: "a", method: "pca", x: x.slice(), n: 300, d: 10, seq: 2, warmFrom: null, labels: null }, (r) => replies.push(r));
  assert.equal(replies[replies.length - 1].type, "result");
  assert.ok(replies.some((r) => r.type === "progress"));
});

test("a transferred result leaves the warm state intact (the next frame starts from it)", () => {
  const handle = createHandler();
  const replies: WorkerReply[] = [];
  const send = (i: number) =>
    handle({ type: "reduce", id: i, layer: "h", method: "umap", x: x.slice(), n: 300, d: 10, seq: i, warmFrom: null, labels: null }, (r) => {
      if (r.type !== "result") return;
      // What postMessage with a transfer list does: the sender's buffer is detached.
      replies.push(structuredClone(r, { transfer: [r.xy.buffer as ArrayBuffer] }));
    });
  send(1);
  send(2);
  const second = replies[1];
  assert.ok(second.type === "result" && !second.cold);
  assert.deepEqual(second.notes, [], `unexpected notes: ${second.type === "result" ? second.notes.join("; ") : ""}`);
  assert.ok(second.type === "result" && second.xy.every(Number.isFinite));
});
