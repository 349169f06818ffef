// Which frame a view shows: follow the newest, pin by scrubbing or pausing, play through the history.
import test from "node:test";
import assert from "node:assert/strict";
import { FrameStore } from "../../src/store.ts";
import { Playhead } from "../../src/view/playhead.ts";
import type { Frame } from "../../src/transport/frame.ts";

function frame(seq: number, layer = "h"): Frame {
  return {
    seq, step: seq * 10, layer, n: 1, d: 1, ids: new Int32Array(1), labels: null, preds: null, groups: null, groupNames: [], tasks: [],
    x: new Float32Array(1), scalars: {}, metrics: {}, nonFinite: 0, pool: "none", shape: [1, 1], projectedFrom: null, every: null,
  };
}

function setup(count: number): { store: FrameStore; head: Playhead } {
  const store = new FrameStore();
  for (let s = 0; s < count; s++) store.add(frame(s));
  const head = new Playhead(store);
  head.selectLayer("h");
  return { store, head };
}

test("following shows the newest frame as frames come", () => {
  const { store, head } = setup(3);
  assert.equal(head.current()?.seq, 2);
  store.add(frame(3));
  assert.equal(head.current()?.seq, 3);
  assert.equal(head.index(), 3);
});

test("a scrubbed-to frame stays shown while newer ones come; scrubbing to the newest follows again", () => {
  const { store, head } = setup(4);
  assert.ok(head.scrub(1));
  store.add(frame(4));
  assert.equal(head.current()?.seq, 1);
  assert.equal(head.index(), 1);
  assert.equal(head.follow, false);
  assert.ok(head.scrub(4));
  assert.equal(head.follow, true);
  assert.equal(head.scrub(9), false, "no such frame: nothing changes");
  assert.equal(head.current()?.seq, 4);
});

test("pausing keeps the frame shown; resuming follows the newest", () => {
  const { store, head } = setup(3);
  head.setFollow(false);
  store.add(frame(3));
  assert.equal(head.current()?.seq, 2);
  head.setFollow(true);
  assert.equal(head.current()?.seq, 3);
});

test("play starts from the first frame when following and stops at the newest", () => {
  const { head } = setup(3);
  assert.equal(head.advance(), true);
  assert.equal(head.current()?.seq, 0);
  assert.equal(head.advance(), true);
  assert.equal(head.current()?.seq, 1);
  assert.equal(head.advance(), false, "the newest: play stops, following live");
  assert.equal(head.follow, true);
});

test("choosing a layer while following follows its newest frame", () => {
  const { store, head } = setup(3);
  store.add(frame(7, "g"));
  head.selectLayer("g");
  assert.equal(head.current()?.seq, 7);
  assert.equal(head.follow, true);
});

test("choosing a layer while scrubbed back keeps the position: the frame at or before its step", () => {
  const { store, head } = setup(6); // layer h: steps 0 ... 50
  for (const seq of [10, 12, 14, 16]) store.add({ ...frame(seq, "g"), step: (seq - 10) * 10 }); // g: steps 0, 20, 40, 60
  head.scrub(3); // h at step 30
  head.selectLayer("g");
  assert.equal(head.current()?.step, 20);
  assert.equal(head.follow, false, "not live again");
  head.scrub(3); // g's newest (step 60) follows live
  head.setFollow(false);
  head.selectLayer("h");
  assert.equal(head.current()?.step, 50, "h's frame at or before step 60: its newest, still pinned");
  assert.equal(head.follow, false);
});
