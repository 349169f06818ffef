// End to end in a real JupyterLab: examples/continual.ipynb (split digits, task "0-4" then "5-9")
// runs for real; the view shows the task boundaries and groups, the forgetting alert arrives, and
// every analysis is driven the way a person would: box-select points (cam.selection reads them),
// their trails over the last frames, the movers, the decision regions, all layers side by side,
// play/pause on the timeline. The screenshot in the README is taken here.
import test from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { ROOT, cellOutput, labSession, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook } from "./jupyter.ts";
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

  // Box-select the middle of the map with the mouse: points are selected and their trails drawn.
  await page.locator(".sentrycam-root .modebar-btn[data-val='select']").first().click();
  const box = await page.locator(".sentrycam-root .sentrycam-scatter .nsewdrag").first().boundingBox();
  assert.ok(box, "the scatter's drag layer is on the page");
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.7, { steps: 8 });
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
  mkdirSync(path.join(ROOT, "docs"), { recursive: true });
  await page.locator(".sentrycam-root").first().screenshot({ path: path.join(ROOT, "docs", "continual.png") });

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

  // cam.selection in Python: the ids selected in the view, once the cell has finished.
  assert.equal((await rootAttrs(page)).selected, String(selected), "redraws keep the selection");
  const out = await cellJsonAfter(page, cells.length);
  assert.equal((out.selection as number[]).length, selected);
  assert.equal((out.tasks as unknown[]).length, 2);
  assert.ok((out.forgetting as string[]).some((m) => m.includes("0-4")), `forgetting alerts: ${JSON.stringify(out.forgetting)}`);
  console.log(`analyses: ${selected} selected, ${layers.length} panels in ${contexts} canvases, forgetting ${JSON.stringify(out.forgetting)}`);
  assert.equal((await rootAttrs(page)).errors, "0");
  assert.deepEqual(problems.errors, []);
  await page.close();
});

/** Run the check cell (again) and read its JSON. */
async function cellJsonAfter(page: Page, index: number): Promise<Record<string, unknown>> {
  await runCell(page, index);
  await waitKernelIdle(page);
  assert.doesNotMatch(await cellOutput(page, index), /Traceback/);
  return cellJson(page, index);
}
