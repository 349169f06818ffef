// End to end in Notebook 7 (the `notebook` package's notebook page, not JupyterLab): comm messages
// sent from sentrycam's background thread reach the view while the training cell runs, a snapshot
// is written, a late view gets every frame, and nothing is lost when the kernel is interrupted.
import test from "node:test";
import assert from "node:assert/strict";
import { cellOutput, labSession, rootAttrs, runCell, waitKernelIdle } from "./jupyter.ts";
import { SNAPSHOT_CELLS, cellJson, checkSnapshot, interruptScenario, mlpSetup, mlpTrain, trainLive, waitFrames } from "./scenarios.ts";

const COUNT = `print(json.dumps({"frames": len(cam.frames), "captures": cam.stats["captures"]}))`;

const session = labSession({ app: "notebook" });

test("Notebook 7: frames stream in while the cell runs; snapshot writes a PNG; a late view gets every frame", { timeout: 240_000 }, async () => {
  const cells = [mlpSetup("every=5"), mlpTrain(150, 0.06), ...SNAPSHOT_CELLS, "cam", COUNT];
  const { page, problems } = await trainLive(session.browser(), session.lab(), "live7.ipynb", cells);
  assert.match(await cellOutput(page, 1), /trained 150/);
  await waitFrames(page, 60); // 30 captures x 2 layers
  await page.waitForFunction(() => (document.querySelector(".sentrycam-root") as HTMLElement | null)?.dataset.step === "145", undefined, { timeout: 60_000 });
  assert.equal((await rootAttrs(page)).points, "300");

  await checkSnapshot(page, session.lab(), 2);

  // A second view of the same monitor, displayed after training: it is sent every kept frame.
  await runCell(page, 4);
  await waitKernelIdle(page);
  await page.waitForFunction(() => document.querySelectorAll(".sentrycam-root").length === 2, undefined, { timeout: 60_000 });
  await runCell(page, 5);
  await waitKernelIdle(page);
  const out = await cellJson(page, 5);
  assert.equal(out.frames, 60);
  assert.equal(out.captures, 30);
  await waitFrames(page, 60, 1);
  await page.waitForFunction(() => (document.querySelectorAll(".sentrycam-root")[1] as HTMLElement | undefined)?.dataset.points === "300", undefined, { timeout: 60_000 });
  const [first, late] = [await rootAttrs(page, 0), await rootAttrs(page, 1)];
  assert.equal(late.frames, first.frames);
  assert.equal(first.errors, "0");
  assert.equal(late.errors, "0");
  assert.deepEqual(problems.errors, []);
  await page.close();
});

test("Notebook 7: interrupting the kernel mid-run loses no captured frame", { timeout: 180_000 }, async () => {
  await interruptScenario(session.browser(), session.lab(), "interrupt7.ipynb");
});
