// End to end in a real JupyterLab: examples/continual.ipynb (split digits, task "0-4" then "5-9")
// runs for real; the view shows the task boundaries and groups, the forgetting alert arrives, and
// every analysis is driven the way a person would: box-select points (cam.selection reads them),
// their trails over the last frames, the movers, the decision regions, all layers side by side,
// play/pause on the timeline. The screenshot in the README is taken here.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { ROOT, cellOutput, docsScreenshot, labSession, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook } from "./jupyter.ts";
import { cellJson } from "./scenarios.ts";

const session = labSession();

/** The example's code cells, as written (the test runs the notebook users get). */
function exampleCells(): string[] {
  const nb = JSON.parse(readFileSync(path.join(ROOT, "examples", "continual.ipynb"), "utf8")) as { cells: { cell_type: string; source: string | string[] }[] };
  return nb.cells.filter((c) => c.cell_type === "code").map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
}

async function waitAttr(page: Page, name: string, ok: (value: string) => boolean, what: string, timeout = 60_000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = (await rootAttrs(page))[name] ?? "";
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`data-${name} never became ${what}; attributes: ${JSON.stringify(await rootAttrs(page))}`);
    await page.waitForTimeout(200);
  }
}

const toggle = (page: Page, which: string) => page.locator(`.sentrycam-root .sentrycam-toggle-${which} input`).first().click();

test("continual learning: tasks, groups, forgetting, selection, trails, movers, regions, all layers", { timeout: 600_000 }, async () => {
  const cells = exampleCells();
  const CHECK = `import json\nprint(json.dumps({"selection": cam.selection, "tasks": cam.tasks, "layers": list(cam.layers), "forgetting": [a.metric for a in cam.alerts if a.metric.startswith("forgetting")]}))`;
  writeNotebook(session.lab(), "continual.ipynb", [...cells, CHECK]);
  const { page, problems } = await openNotebook(session.browser(), session.lab(), "continual.ipynb");
  for (let i = 0; i < cells.length; i++) {
    await runCell(page, i);
    await waitKernelIdle(page, 300_000);
  }
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 });
  await waitAttr(page, "tasks", (v) => v === "2", "2");
  await waitAttr(page, "groups", (v) => v === "2", "2");
  await waitAttr(page, "points", (v) => Number(v) > 0, "> 0");
  await page.locator(".sentrycam-root").first().scrollIntoViewIfNeeded();
  // JupyterLab asks whether to fetch its news in a toast over the page corner: say no.
  await page.locator(".jp-Notification-Toast-Close, .jp-toast-button:has-text('No')").first().click({ timeout: 3000 }).catch(() => undefined);

  // The forgetting alert is in the list, and both boundaries are marked on the timeline.
  await page.waitForFunction(() => [...document.querySelectorAll(".sentrycam-root .sentrycam-alerts li")].some((li) => /forgetting/.test(li.textContent ?? "")), undefined, { timeout: 30_000 });
  assert.equal(await page.locator(".sentrycam-root .sentrycam-mark-task").count(), 2);

  // Colour by group: the legend names both groups.
  await page.locator(".sentrycam-root .sentrycam-select-color").first().selectOption("group");
  await page.waitForFunction(() => /0-4/.test(document.querySelector(".sentrycam-root .sentrycam-legend")?.textContent ?? "") && /5-9/.test(document.querySelector(".sentrycam-root .sentrycam-legend")?.textContent ?? ""), undefined, { timeout: 10_000 });

  // Box-select, with the mouse, the neighbourhood of a point: points are selected, their trails drawn.
  await page.locator(".sentrycam-root .modebar-btn[data-val='select']").first().click();
  const [centre] = await pointsOnScreen(page);
  await page.mouse.move(centre.x - 45, centre.y - 45);
  await page.mouse.down();
  await page.mouse.move(centre.x, centre.y, { steps: 8 });
  await page.mouse.move(centre.x + 45, centre.y + 45, { steps: 8 });
  await page.mouse.up();
  const selected = Number(await waitAttr(page, "selected", (v) => Number(v) > 0, "> 0", 10_000));
  await waitAttr(page, "trails", (v) => Number(v) > 0, "> 0", 120_000);

  // Scrub back: the selection follows its samples into an older frame.
  const steps = Number(await page.locator(".sentrycam-root .sentrycam-slider").first().getAttribute("max"));
  const stepBefore = (await rootAttrs(page)).step;
  await page.locator(".sentrycam-root .sentrycam-slider").first().fill(String(Math.max(0, steps - 3)));
  await waitAttr(page, "step", (v) => v !== stepBefore, `not ${stepBefore}`, 60_000);
  // The selected samples are ringed in the frame scrubbed to: the selection followed them there.
  await page.waitForFunction((want) => {
    const gd = document.querySelector(".sentrycam-root .sentrycam-scatter") as unknown as { data?: { x?: unknown[] }[] };
    return gd.data?.[3]?.x?.length === want;
  }, selected, { timeout: 60_000 });
  assert.equal((await rootAttrs(page)).selected, String(selected));

  // Movers, decision regions (wrong predictions marked), all layers side by side.
  const canvasesOnePanel = await page.evaluate(() => document.querySelectorAll(".sentrycam-root .sentrycam-scatter canvas").length);
  await toggle(page, "movers");
  await waitAttr(page, "movers", (v) => Number(v) > 0, "> 0", 120_000);
  await toggle(page, "regions");
  await waitAttr(page, "regions", (v) => v === "1", "1", 60_000);
  const layers = (await cellJsonAfter(page, cells.length)).layers as string[];
  await toggle(page, "allLayers");
  await waitAttr(page, "panels", (v) => v === String(layers.length), String(layers.length), 120_000);
  const contexts = await page.evaluate(() => document.querySelectorAll(".sentrycam-root .sentrycam-scatter canvas").length);
  assert.equal(contexts, canvasesOnePanel, "all layers share the figure's canvases: no WebGL context per panel");
  await page.locator(".sentrycam-root").first().screenshot({ path: docsScreenshot("continual.png") });

  // The hover text names the class (class_names=) and the group.
  const hover = await page.evaluate(() => {
    const gd = document.querySelector(".sentrycam-root .sentrycam-scatter") as unknown as { data: { customdata?: unknown[][] }[] };
    return gd.data[1].customdata?.[0];
  });
  assert.ok(Array.isArray(hover) && hover.length === 4 && /^(0-4|5-9)$/.test(String(hover[3])), `hover row: ${JSON.stringify(hover)}`);

  // Play steps through the history; pause stops it.
  await toggle(page, "allLayers");
  await waitAttr(page, "panels", (v) => v === "1", "1", 60_000);
  const before = (await rootAttrs(page)).step;
  await page.locator(".sentrycam-root .sentrycam-play").first().click();
  await waitAttr(page, "step", (v) => v !== before, `not ${before}`, 30_000);
  await page.locator(".sentrycam-root .sentrycam-play").first().click();

  assert.equal((await rootAttrs(page)).selected, String(selected), "redraws keep the selection");

  // Lasso: a triangle over the middle of the map selects other points.
  await page.locator(".sentrycam-root .sentrycam-clear-selection").first().click();
  await waitAttr(page, "selected", (v) => v === "0", "0", 10_000);
  await page.locator(".sentrycam-root .modebar-btn[data-val='lasso']").first().click();
  const [inside] = await pointsOnScreen(page);
  const corners: [number, number][] = [[-50, -40], [50, -40], [0, 50], [-50, -40]];
  await page.mouse.move(inside.x + corners[0][0], inside.y + corners[0][1]);
  await page.mouse.down();
  for (const [dx, dy] of corners.slice(1)) await page.mouse.move(inside.x + dx, inside.y + dy, { steps: 10 });
  await page.mouse.up();
  await waitAttr(page, "selected", (v) => Number(v) > 0, "> 0", 10_000);

  // Click one point, then Shift-click another: the selection is those two samples.
  await page.locator(".sentrycam-root .sentrycam-clear-selection").first().click();
  await waitAttr(page, "selected", (v) => v === "0", "0", 10_000);
  await page.locator(".sentrycam-root .modebar-btn[data-val='zoom']").first().click(); // clicks, as most people do, in zoom mode
  const points = await pointsOnScreen(page);
  // Hover first, as a hand does: Plotly picks the point under the mouse while it moves.
  const clickAt = async (p: { x: number; y: number }) => {
    await page.mouse.move(p.x - 3, p.y - 3);
    await page.mouse.move(p.x, p.y, { steps: 3 });
    await page.waitForTimeout(300);
    await page.mouse.down();
    await page.mouse.up();
  };
  // The next click lands once the plot has been redrawn with this selection (its ring drawn).
  const ringed = (id: number) =>
    page.waitForFunction((want) => {
      const gd = document.querySelector(".sentrycam-root .sentrycam-scatter") as unknown as { data?: { customdata?: unknown[] }[] };
      return gd.data?.[3]?.customdata?.includes(want) ?? false;
    }, id, { timeout: 30_000 });
  await clickAt(points[0]);
  await waitAttr(page, "selected", (v) => v === "1", "1 (a click)", 10_000);
  await ringed(points[0].id);
  await page.waitForTimeout(300); // and the redraw that drew it has settled
  await page.keyboard.down("Shift");
  await clickAt(points[1]);
  await page.keyboard.up("Shift");
  await waitAttr(page, "selected", (v) => v === "2", "2 (a Shift-click adds)", 10_000);

  // cam.selection in Python: the ids selected in the view, once the cell has finished.
  const out = await cellJsonAfter(page, cells.length);
  assert.deepEqual([...(out.selection as number[])].sort((a, b) => a - b), [points[0].id, points[1].id].sort((a, b) => a - b));
  assert.equal((out.tasks as unknown[]).length, 2);
  assert.ok((out.forgetting as string[]).some((m) => m.includes("0-4")), `forgetting alerts: ${JSON.stringify(out.forgetting)}`);
  console.log(`analyses: ${selected} selected, ${layers.length} panels in ${contexts} canvases, forgetting ${JSON.stringify(out.forgetting)}`);
  assert.equal((await rootAttrs(page)).errors, "0");
  assert.deepEqual(problems.errors, []);
  await page.close();
});

/**
 * Two points of the first panel on the screen (page pixels) with their sample ids: the two most
 * isolated ones (farthest from their nearest neighbour), so that a click on each hits that point.
 */
async function pointsOnScreen(page: Page): Promise<{ x: number; y: number; id: number }[]> {
  return page.evaluate(() => {
    type Axis = { _offset: number; l2p(v: number): number };
    const gd = document.querySelector(".sentrycam-root .sentrycam-scatter") as unknown as HTMLElement & { _fullLayout: { xaxis: Axis; yaxis: Axis }; data: { x: ArrayLike<number>; y: ArrayLike<number>; customdata: [number][] }[] };
    const { xaxis, yaxis } = gd._fullLayout;
    const rect = gd.getBoundingClientRect();
    const trace = gd.data[1];
    // No named functions in here: the test runner's transpiler would wrap them in a helper the page lacks.
    const px: { x: number; y: number; id: number; gap: number }[] = [];
    for (let i = 0; i < trace.x.length; i++) {
      if (!Number.isFinite(trace.x[i]) || !Number.isFinite(trace.y[i])) continue;
      px.push({ x: rect.left + xaxis._offset + xaxis.l2p(trace.x[i]), y: rect.top + yaxis._offset + yaxis.l2p(trace.y[i]), id: trace.customdata[i][0], gap: Infinity });
    }
    for (const p of px) for (const q of px) if (p !== q) p.gap = Math.min(p.gap, Math.hypot(p.x - q.x, p.y - q.y));
    const inside = px.filter((p) => p.x > rect.left + 60 && p.x < rect.right - 20 && p.y > rect.top + 40 && p.y < rect.bottom - 40);
    inside.sort((a, b) => b.gap - a.gap);
    return inside.slice(0, 2).map((p) => ({ x: p.x, y: p.y, id: p.id }));
  });
}

/** Run the check cell (again) and read its JSON. */
async function cellJsonAfter(page: Page, index: number): Promise<Record<string, unknown>> {
  await runCell(page, index);
  await waitKernelIdle(page);
  assert.doesNotMatch(await cellOutput(page, index), /Traceback/);
  return cellJson(page, index);
}
