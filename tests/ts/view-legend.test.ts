// The legend says what every colour and ring means, in colours no class uses.
import test from "node:test";
import assert from "node:assert/strict";
import { legendSections, hasGroups } from "../../src/view/view-text.ts";
import { CORRECT_COLOR, MOVER_COLOR, PALETTE, SELECTED_COLOR, WRONG_COLOR } from "../../src/view/palette.ts";
import type { Frame } from "../../src/transport/frame.ts";

function frame(labels: number[], preds: number[] | null, groups: number[] | null = null): Frame {
  const n = labels.length;
  return {
    seq: 0, step: 0, layer: "h", n, d: 1, ids: new Int32Array(n), labels: Int32Array.from(labels), preds: preds && Int32Array.from(preds),
    groups: groups && Int32Array.from(groups), groupNames: ["task A"], tasks: [], x: new Float32Array(n), scalars: {}, metrics: {},
    nonFinite: 0, pool: "none", shape: [n, 1], projectedFrom: null, every: null,
  };
}

const section = (sections: ReturnType<typeof legendSections>, title: string) => sections.find((s) => s.title === title)?.entries ?? [];

test("correct / wrong has its legend, with counts and the samples without a prediction", () => {
  const sections = legendSections(frame([0, 1, 2, 3], [0, 1, 0, -1]), "correct", false, []);
  assert.deepEqual(section(sections, "prediction"), [
    { color: CORRECT_COLOR, text: "correct (2)" },
    { color: WRONG_COLOR, text: "wrong (1)" },
    { color: "#9aa0a6", text: "no prediction (1)" },
  ]);
  assert.deepEqual(section(sections, "class"), []);
  assert.deepEqual(section(legendSections(frame([0, 1], [0, 1]), "label", false, []), "prediction"), []);
});

test("rings are in the legend when drawn: selected samples and movers", () => {
  const sections = legendSections(frame([0, 1], [0, 1]), "label", false, [], { selected: 2, movers: 10 });
  assert.deepEqual(section(sections, "rings"), [
    { color: SELECTED_COLOR, text: "selected (2)" },
    { color: MOVER_COLOR, text: "movers (10)" },
  ]);
  assert.deepEqual(section(legendSections(frame([0], [0]), "label", false, []), "rings"), []);
});

test("marks beside the classes use colours no class has", () => {
  for (const colour of [CORRECT_COLOR, WRONG_COLOR, MOVER_COLOR]) assert.ok(!PALETTE.includes(colour), colour);
});

test("'by group' is offered only when a sample is in a group", () => {
  assert.equal(hasGroups(frame([0, 1], null)), false);
  assert.equal(hasGroups(frame([0, 1], null, [-1, -1])), false);
  assert.equal(hasGroups(frame([0, 1], null, [-1, 0])), true);
});
