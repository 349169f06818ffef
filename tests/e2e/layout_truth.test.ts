// In a real JupyterLab: the layout of a frame does not depend on the frame viewed before it. A
// replayed recording of real training opens on its last (trained) frame; scrubbed back to step 0,
// the untrained layer must look as it does in a fresh view of step 0 alone (class silhouette within
// 0.05, trustworthiness within 0.02), not as the trained picture. Then each reducer is drawn.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { labSession, openNotebook, rootAttrs, runCell, waitKernelIdle, writeNotebook } from "./jupyter.ts";
import { quality } from "../../bench/lib/quality.ts";
import { silhouette } from "../../bench/lib/silhouette.ts";

const session = labSession();

const CELLS = [
  `import json, torch, sentrycam
from torch import nn
from collections import OrderedDict
from sklearn.datasets import load_digits
torch.manual_seed(0)
torch.set_num_threads(1)
d = load_digits()
X = torch.tensor(d.data, dtype=torch.float32) / 16.0
y = torch.tensor(d.target)
model = nn.Sequential(OrderedDict(fc1=nn.Linear(64, 64), act1=nn.ReLU(), fc2=nn.Linear(64, 32), act2=nn.ReLU(), out=nn.Linear(32, 10)))
with sentrycam.Monitor(model, layers=["act1"], probe=(X[:600], y[:600]), every=25, sync=True, record="truth.arrows") as cam:
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(400):
        idx = torch.randint(0, len(X), (64,))
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad(); loss.backward(); opt.step()
        cam.step(step)
frames = sentrycam.read_recording("truth.arrows")
first = frames[0]
json.dump({"x": first.x.ravel().tolist(), "n": int(first.x.shape[0]), "d": int(first.x.shape[1]), "labels": first.labels.tolist()}, open("truth.json", "w"))
print(json.dumps({"frames": len(frames), "first": first.step, "last": frames[-1].step}))
replay = sentrycam.Monitor.replay("truth.arrows")
replay`,
  `alone = sentrycam.Monitor(title="step 0 alone")
alone.log(0, {"act1": first.x}, labels=first.labels)
alone`,
];

/** The main panel's points as the plot holds them, once they stop moving (a glide takes < 1 s). */
async function settledPoints(page: Page, nth: number): Promise<Float32Array> {
  const read = () =>
    page.evaluate((i) => {
      const gd = document.querySelectorAll(".sentrycam-root .sentrycam-scatter")[i] as unknown as { data?: { x?: ArrayLike<number>; y?: ArrayLike<number> }[] };
      const pts = gd.data?.[1];
      return pts?.x && pts.y ? Array.from(pts.x).flatMap((x, j) => [x, (pts.y as ArrayLike<number>)[j]]) : [];
    }, nth);
  let before = await read();
  for (;;) {
    await page.waitForTimeout(1200);
    const now = await read();
    if (now.length > 0 && now.length === before.length && now.every((v, j) => v === before[j])) return Float32Array.from(now);
    before = now;
  }
}

async function waitRoot(page: Page, nth: number, ok: (a: Record<string, string>) => boolean, what: string, timeout = 180_000): Promise<Record<string, string>> {
  const until = Date.now() + timeout; // a deadline for a hung view, not a timing assertion
  for (;;) {
    const attrs = await rootAttrs(page, nth);
    if (ok(attrs)) return attrs;
    if (Date.now() > until) assert.fail(`view ${nth} never showed ${what}: ${JSON.stringify(attrs)}`);
    await page.waitForTimeout(250);
  }
}

test("scrubbed back from the trained frame, step 0 looks as a fresh view of step 0 alone", { timeout: 600_000 }, async () => {
  const lab = session.lab();
  writeNotebook(lab, "truth.ipynb", CELLS);
  const { page, problems } = await openNotebook(session.browser(), lab, "truth.ipynb");
  await runCell(page, 0);
  await waitKernelIdle(page, 300_000);
  const truth = JSON.parse(readFileSync(path.join(lab.dir, "truth.json"), "utf8")) as { x: number[]; n: number; d: number; labels: number[] };
  const { n, d } = truth;
  const x = Float32Array.from(truth.x), labels = Int32Array.from(truth.labels);
  await waitRoot(page, 0, (a) => a.frames === "16" && a.step === "375" && a.fit !== "", "the last frame drawn");

  // Scrub to the first frame (a jump of 15 frames back).
  await page.locator(".sentrycam-root .sentrycam-slider").first().fill("0");
  await waitRoot(page, 0, (a) => a.step === "0" && a.fit !== "", "step 0 drawn");
  const scrubbed = await settledPoints(page, 0);
  const attrs = await rootAttrs(page, 0);
  assert.equal(attrs.fit, "cold", "step 0 may not start from the trained layout");
  // The reduction worker runs the WebAssembly SIMD kernels in the real page, not the fallback.
  assert.equal(attrs.kernels, "simd", "the worker's dense products run in WebAssembly SIMD");
  assert.match(await page.locator(".sentrycam-root .sentrycam-status").first().innerText(), /trustworthiness 0\.\d\d/);

  await runCell(page, 1);
  await waitKernelIdle(page);
  await waitRoot(page, 1, (a) => a.step === "0" && a.fit !== "", "the fresh view drawn");
  const fresh = await settledPoints(page, 1);
  assert.equal(scrubbed.length, 2 * n);
  assert.equal(fresh.length, 2 * n);
  const [s, sf] = [silhouette(scrubbed, labels, n), silhouette(fresh, labels, n)];
  const [t, tf] = [quality(x, n, d, scrubbed).trustworthiness, quality(x, n, d, fresh).trustworthiness];
  console.log(`# step 0 scrubbed to: silhouette ${s.toFixed(3)}, trust ${t.toFixed(3)}; fresh view: ${sf.toFixed(3)}, ${tf.toFixed(3)}`);
  assert.ok(Math.abs(s - sf) <= 0.05, `silhouette ${s.toFixed(3)} vs a fresh view's ${sf.toFixed(3)}`);
  assert.ok(Math.abs(t - tf) <= 0.02, `trustworthiness ${t.toFixed(3)} vs a fresh view's ${tf.toFixed(3)}`);

  // Every reducer draws the frame, t-SNE included, and says which one it is.
  for (const method of ["tsne", "pca", "umap"]) {
    await page.locator(".sentrycam-root select.sentrycam-select-reducer").first().selectOption(method);
    const done = await waitRoot(page, 0, (a) => a.reducer === method && a.fit !== "" && a.step === "0", `${method} drawn`);
    assert.equal(done.points, String(n));
    const xy = await settledPoints(page, 0);
    assert.ok(xy.every(Number.isFinite), `${method}: non-finite positions`);
    assert.ok(silhouette(xy, labels, n) > -0.2, method);
  }
  assert.match(await page.locator(".sentrycam-root .sentrycam-status").first().innerText(), /UMAP/);
  assert.deepEqual(problems.errors, []);
  await page.close();
});
