// The geometry of an alert's evidence chart: scales, gaps, missing evidence, flat series.
import test from "node:test";
import assert from "node:assert/strict";
import { CHART_HEIGHT, CHART_WIDTH, MARGIN, evidenceCaption, evidenceGeometry, formatLevel, map, parseEvidence } from "../../src/view/charts/evidence-geometry.ts";
import type { Evidence } from "../../src/transport/messages.ts";

const jump: Evidence = {
  steps: [100, 120, 140, 160, 180, 200],
  values: [1.0, 1.1, 0.9, 1.05, 1.0, 3.0],
  reference: 1.0,
  spread: 0.05,
  threshold: 1.4,
  window: [100, 160],
  direction: 1,
  kind: "jump",
};

const inside = (v: number, [a, b]: [number, number]) => v >= Math.min(a, b) && v <= Math.max(a, b);

test("the scales span the values, reference ± spread and the threshold", () => {
  const low: Evidence = { ...jump, values: [5, 5.2, 5.1, 5.3, 5.2, 5.4], reference: 2, spread: 0.5, threshold: 9 };
  const g = evidenceGeometry(low, 200);
  assert.ok(g);
  for (const v of [1.5, 2, 2.5, 9, 5, 5.4]) assert.ok(inside(v, g.y.domain), `${v} outside ${g.y.domain}`);
  assert.ok(inside(100, g.x.domain) && inside(200, g.x.domain));
  // Everything drawn lands inside the plot area.
  const ys = [g.reference, g.threshold, g.band?.y0, g.band?.y1, ...g.dots.map((d) => d.y)];
  for (const y of ys) assert.ok(y !== null && y !== undefined && y >= g.plot.top - 1e-9 && y <= g.plot.bottom + 1e-9, `y ${y}`);
  for (const d of g.dots) assert.ok(d.x >= g.plot.left - 1e-9 && d.x <= g.plot.right + 1e-9);
  assert.ok(g.threshold! < g.reference!, "a higher level is drawn higher (smaller y)");
  assert.ok(g.band!.y0 < g.reference! && g.reference! < g.band!.y1);
  assert.equal(g.width, CHART_WIDTH);
  assert.equal(g.height, CHART_HEIGHT);
  assert.deepEqual(g.plot, { left: MARGIN.left, top: MARGIN.top, right: CHART_WIDTH - MARGIN.right, bottom: CHART_HEIGHT - MARGIN.bottom });
});

test("the window, the alert's point and the line", () => {
  const g = evidenceGeometry(jump, 200)!;
  assert.equal(g.points, 6);
  assert.equal(g.lines.length, 1);
  assert.equal(g.lines[0].length, 6);
  assert.equal(g.kind, "jump");
  assert.ok(Math.abs(g.window!.x0 - map(g.x, 100)) < 1e-9 && Math.abs(g.window!.x1 - map(g.x, 160)) < 1e-9);
  assert.ok(Math.abs(g.alert!.x - g.plot.right) < 1e-9, "the alert's step is the last");
  assert.ok(Math.abs(g.alert!.y! - map(g.y, 3.0)) < 1e-9);
  assert.deepEqual(g.xTicks.map((t) => t.label), ["100", "200"]);
  assert.equal(evidenceCaption(jump), "jump · reference 1 ± 0.05 · threshold 1.4 · window steps 100–160");
});

test("a window that starts before the history widens the step axis", () => {
  const g = evidenceGeometry({ ...jump, window: [20, 150] })!;
  assert.ok(inside(20, g.x.domain));
  assert.ok(Math.abs(g.window!.x0 - g.plot.left) < 1e-9);
});

test("nulls are skipped: they break the line and are not counted", () => {
  const ev: Evidence = { ...jump, values: [1, null, 1.2, 1.1, null, 3] };
  const g = evidenceGeometry(ev, 200)!;
  assert.equal(g.points, 4);
  assert.deepEqual(g.lines.map((l) => l.length), [1, 2, 1]);
  assert.deepEqual(g.dots.map((d) => d.step), [100, 140, 160, 200]);
  for (const v of g.y.domain) assert.ok(Number.isFinite(v));
  assert.ok(inside(1, g.y.domain) && inside(3, g.y.domain) && inside(1.4, g.y.domain));
});

test("a non-finite value at the alert's step: marked, and no level is drawn", () => {
  // The kernel's non-finite rule compares a count with 0: on a loss chart that 0 means nothing.
  const ev: Evidence = { ...jump, values: [2.3, 2.1, 1.2, 0.4, 0.3, null], kind: "nonfinite", reference: 0, spread: 0, threshold: 0 };
  const g = evidenceGeometry(ev, 200)!;
  assert.equal(g.points, 5);
  assert.deepEqual(g.lines.map((l) => l.length), [5]);
  assert.equal(g.alert!.y, null);
  assert.ok(Math.abs(g.alert!.x - map(g.x, 200)) < 1e-9);
  assert.equal(g.reference, null);
  assert.equal(g.threshold, null);
  assert.equal(g.band, null);
  assert.ok(!inside(0, g.y.domain), "the y scale follows the values only");
  assert.equal(evidenceCaption(ev, 200), "nonfinite · the value itself is not finite · window steps 100–160");
  // A non-finite fraction crossing 0 is a finite value: its level is drawn.
  const frac = evidenceGeometry({ ...ev, values: [0, 0, 0, 0, 0, 0.02] }, 200)!;
  assert.ok(frac.threshold !== null && frac.reference !== null);
  assert.equal(frac.band, null, "no band when the spread is 0");
  assert.equal(evidenceCaption({ ...ev, values: [0, 0, 0.02] }), "nonfinite · reference 0 · threshold 0 · window steps 100–160");
});

test("missing, empty or malformed evidence draws nothing and says so", () => {
  for (const raw of [undefined, null, {}, { steps: [], values: [] }, { steps: "x", values: [1] }, 3, "evidence"]) {
    assert.equal(evidenceGeometry(raw), null, JSON.stringify(raw));
    assert.equal(parseEvidence(raw), null);
    assert.equal(evidenceCaption(raw), "no evidence recorded");
  }
  // Every value non-finite: the axes still exist, nothing is drawn.
  const g = evidenceGeometry({ steps: [1, 2], values: [null, null], reference: null, spread: null, threshold: null, window: null, direction: 1, kind: "nonfinite" })!;
  assert.equal(g.points, 0);
  assert.deepEqual(g.lines, []);
  for (const v of [...g.x.domain, ...g.y.domain]) assert.ok(Number.isFinite(v));
});

test("a flat series (every level equal) does not divide by zero", () => {
  for (const level of [0, 2.5, -7, 1e-7]) {
    const g = evidenceGeometry({ steps: [10, 20, 30], values: [level, level, level], reference: level, spread: 0, threshold: level, window: null, direction: -1, kind: "frozen" })!;
    assert.ok(g.y.domain[1] > g.y.domain[0], `level ${level}: ${g.y.domain}`);
    for (const d of g.dots) assert.ok(Number.isFinite(d.y) && Math.abs(d.y - (g.plot.top + g.plot.bottom) / 2) < 1e-6);
    assert.ok(Number.isFinite(g.reference!) && Number.isFinite(g.threshold!));
  }
  // One step only: the step axis is widened too.
  const one = evidenceGeometry({ steps: [80], values: [0.5], reference: 0, spread: 0, threshold: 0, window: null, direction: 1, kind: "nonfinite" })!;
  assert.ok(one.x.domain[1] > one.x.domain[0]);
  assert.ok(Number.isFinite(one.dots[0].x));
});

test("values from the wire are checked: non-numbers are gaps, the lengths are matched, per_step is told", () => {
  const ev = parseEvidence({ steps: [1, 2, 3, 4], values: [1, "x", null], reference: "1", spread: null, threshold: 2, window: [1], direction: 7, kind: 5, per_step: true })!;
  assert.deepEqual(ev.steps, [1, 2, 3]);
  assert.deepEqual(ev.values, [1, null, null]);
  assert.equal(ev.reference, null);
  assert.equal(ev.window, null);
  assert.equal(ev.direction, 1);
  assert.equal(ev.kind, "");
  assert.match(evidenceCaption(ev), /change per step/);
});

test("levels are shown in three significant digits", () => {
  assert.equal(formatLevel(1.23456), "1.23");
  assert.equal(formatLevel(0.05), "0.05");
  assert.equal(formatLevel(0), "0");
  assert.equal(formatLevel(123456), "1.23e+5");
  assert.equal(formatLevel(-0.0001234), "-1.23e-4");
});
