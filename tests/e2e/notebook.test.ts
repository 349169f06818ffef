// End to end: a real JupyterLab, a real notebook, real PyTorch training, real headless Chromium.
import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ROOT, cellOutput, docsScreenshot, kernelBusy, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook, labSession } from "./jupyter.ts";
import { SNAPSHOT_CELLS, checkSnapshot, mlpSetup, mlpTrain, trainLive } from "./scenarios.ts";

// The quick-start MLP watched on act1 and act2 (probe 300), every 5 steps; 150 training steps.
const SETUP = mlpSetup("every=5");
const TRAIN = mlpTrain(150, 0.08);

const session = labSession();

test("frames stream into the view while the training cell runs; snapshot writes a PNG", { timeout: 300_000 }, async () => {
  const { page, problems } = await trainLive(session.browser(), session.lab(), "live.ipynb", [SETUP, TRAIN, ...SNAPSHOT_CELLS]);
  assert.match(await cellOutput(page, 1), /trained \d+/);

  // After training: every frame arrived (30 captures x 2 layers) and the view shows the probe.
  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement)?.dataset.frames === "60", undefined, { timeout: 30_000 });
  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement)?.dataset.step === "145", undefined, { timeout: 30_000 });
  const attrs = await rootAttrs(page);
  assert.equal(attrs.points, "300");
  assert.equal(attrs.layer, "act1");
  assert.equal(attrs.errors, "0");
  // Every warm UMAP frame started from the previous one (no point lost its position).
  const status = await page.locator(".sentrycam-status").first().innerText();
  assert.match(status, /UMAP warm/);
  assert.doesNotMatch(status, /without a previous position/);
  await page.locator(".sentrycam-root").first().screenshot({ path: docsScreenshot("screenshot.png") });

  await checkSnapshot(page, session.lab(), 2);
  assert.deepEqual(problems.errors, []);
  await page.close();
});

test("a view that appears after training shows every frame it missed", { timeout: 300_000 }, async () => {
  writeNotebook(session.lab(), "late.ipynb", [
    `import numpy as np, sentrycam\ncam = sentrycam.Monitor(reducer="pca")\nrng = np.random.default_rng(0)\nfor s in range(12):\n    cam.log(s, {"h": rng.normal(size=(200, 16)) + s}, labels=rng.integers(0, 4, 200))\nprint(len(cam.frames))`,
    "cam",
    "cam",
    `cam.send({"type": "frames", "seqs": [999]}, [b"ARROW1" + bytes(200)])  # a corrupt buffer\ncam.log(12, {"h": rng.normal(size=(200, 16))}, labels=rng.integers(0, 4, 200))`,
  ]);
  const { page, problems } = await openNotebook(session.browser(), session.lab(), "late.ipynb");
  await runCell(page, 0);
  await waitKernelIdle(page);
  await runCell(page, 1);
  await waitKernelIdle(page);
  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement)?.dataset.frames === "12", undefined, { timeout: 30_000 });
  await runCell(page, 2); // a second view of the same monitor
  await waitKernelIdle(page);
  await page.waitForFunction(() => document.querySelectorAll(".sentrycam-root").length === 2 && (document.querySelectorAll(".sentrycam-root")[1] as HTMLElement).dataset.points === "200", undefined, { timeout: 30_000 });
  assert.equal((await rootAttrs(page, 1)).frames, "12");
  // A corrupt buffer: an error in the widget, and the next frame is still shown.
  await runCell(page, 3);
  await waitKernelIdle(page);
  await page.waitForFunction(() => [...document.querySelectorAll(".sentrycam-root")].every((r) => (r as HTMLElement).dataset.frames === "13" && (r as HTMLElement).dataset.step === "12"), undefined, { timeout: 30_000 });
  assert.match(await page.locator(".sentrycam-error").first().innerText(), /frame 999 could not be decoded/);
  // Save, then reload the page: a brand-new frontend asks the kernel for the history again.
  await page.keyboard.press("Control+s");
  await page.waitForTimeout(1500);
  await page.reload();
  await page.waitForSelector(".jp-Notebook .jp-Cell", { timeout: 60_000 });
  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement | null)?.dataset.frames === "13", undefined, { timeout: 60_000 });
  assert.deepEqual(problems.errors.filter((e) => !/WebSocket|Kernel|kernel/.test(e)), []);
  await page.close();
});

test("a replayed recording is shown like a live run", { timeout: 300_000 }, async () => {
  writeNotebook(session.lab(), "replay.ipynb", [
    `import numpy as np, sentrycam\nrng = np.random.default_rng(1)\nwith sentrycam.Monitor(record="run.arrows") as live:\n    for s in range(9):\n        live.log(s * 10, {"a": rng.normal(size=(150, 8)) + s, "b": rng.normal(size=(150, 3))}, labels=rng.integers(0, 3, 150))\ncam = sentrycam.Monitor.replay("run.arrows", reducer="pca")\ncam`,
  ]);
  const { page, problems } = await openNotebook(session.browser(), session.lab(), "replay.ipynb");
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForFunction(() => {
    const r = document.querySelector(".sentrycam-root") as HTMLElement | null;
    return r?.dataset.frames === "18" && r.dataset.step === "80" && r.dataset.points === "150" && r.dataset.layer === "a";
  }, undefined, { timeout: 60_000 });
  assert.deepEqual(problems.errors, []);
  await page.close();
});
