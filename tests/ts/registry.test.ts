// The lists derived from the metric registry (python/sentrycam/contract/registry.json) hang
// together: every panel draws something, every drawn metric exists, notify_from is a severity.
import test from "node:test";
import assert from "node:assert/strict";
import registry from "../../python/sentrycam/contract/registry.json" with { type: "json" };
import { CHART_PANELS, GROUP_METRICS, GROUP_PANELS, KNN_K, METRIC_NAMES, NOTIFY_SEVERITIES, SEVERITIES } from "../../src/registry.ts";

test("every chart panel draws registered metrics, each metric in at most one panel", () => {
  const drawn = CHART_PANELS.flatMap((p) => p.keys);
  assert.ok(CHART_PANELS.every((p) => p.keys.length > 0), "no empty panel");
  assert.ok(drawn.every((k) => METRIC_NAMES.includes(k)));
  assert.equal(new Set(drawn).size, drawn.length);
  for (const p of CHART_PANELS) if (p.names !== undefined) assert.equal(p.names.length, p.keys.length, p.title);
});

test("line names have their placeholders filled in", () => {
  const names = CHART_PANELS.flatMap((p) => p.names ?? []);
  assert.ok(names.every((n) => !n.includes("{")), names.join(", "));
  assert.ok(names.includes(`kNN Jaccard@${KNN_K}`));
});

test("every group panel draws one registered group metric", () => {
  assert.ok(GROUP_PANELS.length > 0);
  assert.equal(new Set(GROUP_PANELS.map((p) => p.title)).size, GROUP_PANELS.length);
  assert.ok(GROUP_PANELS.every((p) => GROUP_METRICS.includes(p.metric)));
});

test("the notified severities are the most severe ones, from notify_from up", () => {
  assert.equal(NOTIFY_SEVERITIES[0], registry.notify_from);
  assert.ok(NOTIFY_SEVERITIES.length > 0 && NOTIFY_SEVERITIES.length < SEVERITIES.length);
  assert.deepEqual(NOTIFY_SEVERITIES, SEVERITIES.slice(SEVERITIES.length - NOTIFY_SEVERITIES.length));
});
