// The main-thread side of reduction: coalescing per (layer, method), the fallback when a worker
// dies, typed calls, the shared per-model reduction and its cache, and the draw queue.
import test from "node:test";
import assert from "node:assert/strict";
import { ReductionClient, type Port, type PortFactory, type Reduced } from "../../src/reduction/client.ts";
import { ResultCache } from "../../src/reduction/cache.ts";
import { SharedReduction } from "../../src/reduction/shared.ts";
import { DrawQueue } from "../../src/view/draw-queue.ts";
import type { WorkerReply, WorkerRequest } from "../../src/worker/protocol.ts";
import type { Frame } from "../../src/transport/frame.ts";
import { clusters } from "../../bench/lib/synthetic.ts";

const { x } = clusters(120, 6, { seed: 5 });

function frame(seq: number, layer = "h"): Frame {
  return {
    seq, step: seq * 10, layer, n: 120, d: 6, ids: Int32Array.from({ length: 120 }, (_, i) => i), labels: null, preds: null,
    groups: null, groupNames: [], tasks: [], x: x.slice(), scalars: {}, metrics: {}, nonFinite: 0, pool: "none", shape: [120, 6],
    projectedFrom: null, every: 10,
  };
}

/** A port that holds requests until the test answers them (a worker that is slow on purpose). */
function heldPort(): { start: PortFactory; posted: WorkerRequest[]; reply(r: WorkerReply): void; fail(message: string): void } {
  let onReply: (r: WorkerReply) => void = () => {};
  let onFailure: (m: string) => void = () => {};
  const posted: WorkerRequest[] = [];
  const port: Port = { post: (msg) => posted.push(msg), close() {} };
  return {
    start: (reply, failure) => {
      onReply = reply;
      onFailure = failure;
      return { port, inWorker: true };
    },
    posted,
    reply: (r) => onReply(r),
    fail: (m) => onFailure(m),
  };
}

const result = (req: WorkerRequest): WorkerReply => {
  assert.equal(req.type, "reduce");
  if (req.type !== "reduce") throw new Error("not a reduce request");
  return { type: "result", id: req.id, layer: req.layer, seq: req.seq, xy: new Float32Array(2 * req.n), cold: true, warmFrom: null, faithfulness: null, notes: [], excluded: 0, ms: 1, method: req.method, kernels: "js" };
};

const noEvents = { result() {}, progress() {}, error() {} };

test("while a layer is being reduced only its newest waiting frame is kept; other slots run at once", () => {
  const port = heldPort();
  const got: number[] = [];
  const client = new ReductionClient({ ...noEvents, result: (r) => got.push(r.seq) }, port.start);
  client.request(frame(1), "umap");
  client.request(frame(2), "umap");
  client.request(frame(3), "umap"); // replaces 2
  client.request(frame(4, "g"), "umap"); // another layer: not held up
  client.request(frame(5), "pca"); // another method: not held up
  client.request(frame(5), "pca"); // asked again while in flight: not reduced twice
  assert.deepEqual(port.posted.map((r) => (r.type === "reduce" ? r.seq : -1)), [1, 4, 5]);
  assert.ok(client.isBusy("h"));
  port.reply(result(port.posted[0]));
  assert.deepEqual(port.posted.map((r) => (r.type === "reduce" ? r.seq : -1)), [1, 4, 5, 3]);
  for (const r of port.posted.slice(1)) port.reply(result(r));
  assert.deepEqual(got, [1, 4, 5, 3]);
  assert.ok(!client.isBusy("h"));
});

test("a worker that dies mid-frame: the frame is reduced on the main thread and the view is told", async () => {
  const port = heldPort();
  const errors: string[] = [];
  const results: Reduced[] = [];
  const client = new ReductionClient({ ...noEvents, result: (r) => results.push(r), error: (_l, _s, m) => errors.push(m) }, port.start);
  client.request(frame(1), "pca");
  const regions = client.call("regions", new Float32Array([0, 0, 1, 1]), new Int32Array([0, 1]), 2, { grid: 4 });
  assert.ok(client.inWorker);
  port.fail("out of memory");
  assert.ok(!client.inWorker);
  assert.match(errors[0], /worker failed \(out of memory\).*main thread/);
  const deadline = Date.now() + 10_000;
  while (results.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(results[0]?.seq, 1);
  assert.equal(results[0].xy.length, 240);
  assert.equal((await regions).grid, 4, "a call in flight is re-sent too");
});

test("a failing call rejects with the worker's message", async () => {
  const client = new ReductionClient(noEvents);
  await assert.rejects(client.call("regions", new Float32Array(4), new Int32Array(1), 2), /predictions/);
});

test("one shared reduction per model: a second view gets the first view's results from the cache", async () => {
  const shared = new SharedReduction();
  const seen: [string, number][] = [];
  shared.subscribe({ ...noEvents, result: (r) => seen.push(["a", r.seq]) });
  shared.subscribe({ ...noEvents, result: (r) => seen.push(["b", r.seq]) });
  const f = frame(7);
  assert.equal(shared.resultOf(f, "pca"), undefined, "not reduced yet: asked for");
  const deadline = Date.now() + 10_000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, [["a", 7], ["b", 7]], "every view hears the one result");
  const cached = shared.resultOf(f, "pca");
  assert.ok(cached !== undefined && cached.seq === 7, "the second asking is answered from the cache");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 2, "and nothing was reduced twice");
  shared.close();
});

test("each frame is offered only the reduced frames just before it as warm starts, never the one viewed last", () => {
  const held = heldPort();
  const history = [0, 1, 2, 3, 4].map((seq) => frame(seq));
  const shared = new SharedReduction(held.start, () => history);
  const ask = (seq: number) => {
    shared.resultOf(history[seq], "umap");
    const req = held.posted[held.posted.length - 1];
    if (req.type !== "reduce") throw new Error("not a reduce request");
    held.reply(result(req));
    return req.warmFrom;
  };
  assert.deepEqual(ask(4), []); // the newest first (a replay): nothing before it is reduced
  assert.deepEqual(ask(0), []); // a jump back to the start: cold, not from step 40's layout
  assert.deepEqual(ask(1), [0]);
  assert.deepEqual(ask(3), [1, 0]);
});

test("the result cache evicts the least recently used; peek does not refresh", () => {
  const cache = new ResultCache(2);
  const r = (seq: number): Reduced => ({ layer: "h", seq, method: "umap", xy: new Float32Array(0), cold: true, warmFrom: null, faithfulness: null, notes: [], excluded: 0, ms: 0, kernels: "js" });
  cache.put(r(1));
  cache.put(r(2));
  assert.ok(cache.get("h", "umap", 1)); // 1 is now the most recent
  cache.put(r(3)); // evicts 2
  assert.equal(cache.get("h", "umap", 2), undefined);
  assert.ok(cache.peek("h", "umap", 1));
  cache.put(r(4)); // peek did not refresh 1: it goes
  assert.equal(cache.peek("h", "umap", 1), undefined);
  assert.equal(cache.get("h", "pca", 3), undefined, "keys include the method");
  assert.equal(cache.size, 2);
});

test("the draw queue draws one at a time, latest wins, and interrupts a running draw", async () => {
  const drawn: number[] = [];
  let interrupts = 0;
  const gates: (() => void)[] = [];
  const queue = new DrawQueue<number>(
    (n) => new Promise((resolve) => {
      drawn.push(n);
      gates.push(resolve);
    }),
    () => interrupts++,
  );
  queue.push(1);
  queue.push(2);
  queue.push(3); // replaces 2 while 1 draws
  assert.deepEqual(drawn, [1]);
  assert.equal(interrupts, 2);
  gates.shift()?.();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(drawn, [1, 3]);
  gates.shift()?.();
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(!queue.busy);
  const errors: string[] = [];
  const failing = new DrawQueue<number>(async () => { throw new Error("webgl lost"); }, () => {}, (e) => errors.push(e.message));
  failing.push(1);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(errors, ["webgl lost"]);
});
