// End-to-end scenarios shared by more than one Jupyter front end (JupyterLab 4 and Notebook 7):
// frames sent from sentrycam's background thread reach a view while the cell runs, and nothing
// captured is lost when the kernel is interrupted mid-run.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { cellOutput, interruptKernel, kernelBusy, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook, type Lab, type PageProblems } from "./jupyter.ts";

/** The quick-start MLP on scikit-learn's digits; `cam` watches act1 and act2 (PROBE rows). One
 * intra-op thread: on a shared 2-core machine a second OpenMP thread makes small steps erratic. */
export function mlpSetup(monitorArgs: string): string {
  return `
import json, time, torch
from torch import nn
from collections import OrderedDict
from sklearn.datasets import load_digits
import sentrycam
torch.set_num_threads(1)
torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(OrderedDict(fc1=nn.Linear(64, 64), act1=nn.ReLU(), fc2=nn.Linear(64, 32), act2=nn.ReLU(), out=nn.Linear(32, 10)))
PROBE = 300
cam = sentrycam.Monitor(model, layers=["act1", "act2"], probe=(X[:PROBE], y[:PROBE]), ${monitorArgs})
cam`;
}

/** A training loop of `steps` steps that sleeps `sleep` seconds per step. */
export function mlpTrain(steps: number, sleep: number): string {
  return `
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for step in range(${steps}):
    idx = torch.randint(0, len(X), (64,))
    loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    cam.step(step, loss=loss.item())
    time.sleep(${sleep})
print("trained", step + 1)`;
}

/** The distinct values of the first view's data-frames, sampled while the kernel is busy; stops
 * early (returning) once `until(frames)` holds. */
export async function framesWhileBusy(page: Page, until: (frames: number) => boolean = () => false): Promise<number[]> {
  const seen: number[] = [];
  while (await kernelBusy(page)) {
    const frames = Number((await rootAttrs(page)).frames ?? 0);
    if (seen.length === 0 || frames !== seen[seen.length - 1]) seen.push(frames);
    if (until(frames)) break;
    await page.waitForTimeout(150);
  }
  return seen;
}

/**
 * Write `cells` to `name`, open it, run the first cell (it displays `cam`) and then the second (the
 * training loop): data-frames must grow at least three times while the kernel is busy, i.e.
 * frames reach the view while the cell runs. Returns the page once the kernel is idle again.
 */
export async function trainLive(browser: Browser, lab: Lab, name: string, cells: string[]): Promise<{ page: Page; problems: PageProblems; seen: number[] }> {
  writeNotebook(lab, name, cells);
  const { page, problems } = await openNotebook(browser, lab, name);
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 });
  await runCell(page, 1);
  const seen = await framesWhileBusy(page);
  assert.ok(growths(seen) >= 3, `data-frames grew only ${growths(seen)} times while busy: ${seen.join(",")}`);
  await waitKernelIdle(page);
  return { page, problems, seen };
}

/** Cells that ask the view for a PNG, then (in the next cell) check the file the kernel wrote. */
export const SNAPSHOT_CELLS = [
  `snap = cam.snapshot("view.png")\nprint(snap.state)`,
  `import os\nprint(snap.state, os.path.getsize("view.png"), open("view.png", "rb").read(8))`,
];

/** Run the SNAPSHOT_CELLS at `index` and `index + 1` one by one: the request is pending in its
 * cell, and the PNG is written by the time the next cell runs. */
export async function checkSnapshot(page: Page, lab: Lab, index: number): Promise<void> {
  await runCell(page, index);
  await waitKernelIdle(page);
  assert.match(await cellOutput(page, index), /pending/);
  await runCell(page, index + 1);
  await waitKernelIdle(page);
  assert.match(await cellOutput(page, index + 1), /written \d+ b'\\x89PNG\\r\\n\\x1a\\n'/);
  const png = readFileSync(path.join(lab.dir, "view.png"));
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
  assert.ok(png.length > 5000, `PNG is only ${png.length} bytes`);
}

/** How many times a sampled series went up. */
export function growths(seen: number[]): number {
  return seen.filter((v, i) => i > 0 && v > seen[i - 1]).length;
}

/** The JSON object a cell printed on its last output line. */
export async function cellJson(page: Page, index: number): Promise<Record<string, unknown>> {
  const text = await cellOutput(page, index);
  const line = text.split("\n").reverse().find((l) => l.trim().startsWith("{"));
  assert.ok(line, `cell ${index} printed no JSON: ${text}`);
  return JSON.parse(line) as Record<string, unknown>;
}

/** Wait until the `nth` view's data-frames reads `frames`; fail with the attributes it has. */
export async function waitFrames(page: Page, frames: number, nth = 0, timeout = 60_000): Promise<void> {
  await page
    .waitForFunction(
      ([i, n]) => (document.querySelectorAll(".sentrycam-root")[i] as HTMLElement | undefined)?.dataset.frames === String(n),
      [nth, frames] as const,
      { timeout, polling: 100 },
    )
    .catch(async () => assert.fail(`view ${nth}: data-frames never read ${frames}; attributes: ${JSON.stringify(await rootAttrs(page, nth))}`));
}

/**
 * Interrupt a long training loop mid-run, once data-frames has grown past a few captures; then
 * every frame captured before the interrupt is in cam.frames, in the view and in the recording.
 */
export async function interruptScenario(browser: Browser, lab: Lab, name: string): Promise<void> {
  // "where": the innermost frame the KeyboardInterrupt was raised in (IPython keeps sys.last_traceback).
  const CHECK = `
import os, sys
tb = sys.last_traceback
while tb.tb_next:
    tb = tb.tb_next
cam.flush()
print(json.dumps({"frames": len(cam.frames), "captures": cam.stats["captures"], "recorded": len(sentrycam.read_recording("run.arrows")),
                  "step": step, "seqs": sorted(f.seq for f in cam.frames) == list(range(len(cam.frames))),
                  "where": f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno} {tb.tb_frame.f_code.co_name}"}))`;
  writeNotebook(lab, name, [mlpSetup(`every=4, record="run.arrows"`), mlpTrain(400, 0.05), CHECK]);
  const { page, problems } = await openNotebook(browser, lab, name);
  await runCell(page, 0);
  await waitKernelIdle(page);
  await page.waitForSelector(".sentrycam-root", { timeout: 60_000 });

  await runCell(page, 1);
  const INTERRUPT_AT = 16; // frames = 8 captures of 2 layers: steps 0..28 of 400
  const seen = await framesWhileBusy(page, (frames) => frames >= INTERRUPT_AT);
  assert.ok(seen[seen.length - 1] >= INTERRUPT_AT, `the cell ended before ${INTERRUPT_AT} frames arrived: ${seen.join(",")}`);
  assert.ok(growths(seen) >= 2, `data-frames grew only ${growths(seen)} times while busy: ${seen.join(",")}`);
  await interruptKernel(lab, name);
  await waitKernelIdle(page, 60_000);
  assert.match(await cellOutput(page, 1), /KeyboardInterrupt/);
  assert.doesNotMatch(await cellOutput(page, 1), /^trained \d+/m, "the loop ran to its end: the interrupt came too late");

  await runCell(page, 2);
  await waitKernelIdle(page);
  const out = await cellJson(page, 2);
  const frames = Number(out.frames);
  console.log(`${name}: interrupted at step ${out.step} in ${out.where}; ${frames} frames, ${out.captures} captures, ${out.recorded} recorded`);
  assert.ok(Number(out.step) < 399, `interrupted at step ${out.step}`);
  assert.equal(frames, 2 * Number(out.captures), `frames vs captures: ${JSON.stringify(out)}`);
  assert.equal(Number(out.recorded), frames, `recording vs frames: ${JSON.stringify(out)}`);
  assert.equal(out.seqs, true, `seqs are not 0..n-1: ${JSON.stringify(out)}`);
  assert.ok(frames >= INTERRUPT_AT, `only ${frames} frames`);
  await waitFrames(page, frames);
  const attrs = await rootAttrs(page);
  assert.equal(attrs.points, "300");
  assert.equal(attrs.errors, "0");
  assert.deepEqual(problems.errors, []);
  await page.close();
}
